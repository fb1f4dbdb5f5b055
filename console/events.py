"""The webhook inbox as operators read it: filters from the screen, one-line summaries, links."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from console.formatting import literal_md
from console.store import EventFilter, StoredEvent
from lean_api.models import (
    ACCOUNT_DATA_TYPES,
    KNOWN_DATA_STATUSES,
    KNOWN_REFRESH_STATUSES,
    Refresh,
)
from lean_api.webhooks import KNOWN_EVENT_TYPES, WebhookEvent

TIME_RANGES: dict[str, timedelta | None] = {
    "Last hour": timedelta(hours=1),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "All time": None,
}
TYPE_LABELS = {
    "entity.created": "Bank connected",
    "entity.updated": "Consent changed",
    "entity.data.refresh.updated": "Data refresh",
    "bank.availability.updated": "Bank availability",
}


def time_window(
    label: str, now: datetime | None = None, custom: tuple[Any, Any] | None = None
) -> tuple[datetime | None, datetime | None]:
    """(since, until) for a preset, or for a custom pair of dates (both inclusive)."""
    now = now or datetime.now(UTC)
    if custom and custom[0]:
        start = datetime.combine(custom[0], time.min, UTC)
        end_day = custom[1] or custom[0]
        return start, datetime.combine(end_day, time.min, UTC) + timedelta(days=1)
    span = TIME_RANGES.get(label)
    return (now - span if span else None), None


def build_filter(
    *,
    types: list[str] | None = None,
    customer_id: str = "",
    entity_id: str = "",
    bank: str | None = None,
    window: tuple[datetime | None, datetime | None] = (None, None),
    text: str = "",
) -> EventFilter:
    """An `EventFilter` from the screen's inputs (blank inputs filter nothing)."""
    return EventFilter(
        types=tuple(types or ()),
        customer_id=customer_id.strip() or None,
        entity_id=entity_id.strip() or None,
        bank_identifier=bank or None,
        since=window[0],
        until=window[1],
        text=text.strip() or None,
    )


def parse_stored(event: StoredEvent) -> WebhookEvent | None:
    """The stored body as a webhook event again (None if it no longer parses)."""
    try:
        data = json.loads(event.payload)
        data.setdefault("event_id", event.event_id)
        return WebhookEvent.model_validate(data)
    except (ValueError, TypeError):
        return None


def refresh_summary(refresh: Refresh) -> str:
    """A refresh by what happened to the data, not only its lifecycle word.

    "Finished — 2 of 7 data types failed on 1 of 3 accounts", "Finished — transactions partial
    on 1 of 2 accounts", "Finished — every data type succeeded on 3 accounts", "Pending — 1 of 3
    accounts reported". A word the console does not know is shown as itself.
    """
    status = (refresh.status or "").upper()
    accounts = refresh.data_status.account_data if refresh.data_status else []
    n = len(accounts)
    of_accounts = f"{n} account{'s' if n != 1 else ''}"
    if status == "PENDING":
        reported = sum(
            any(value not in (None, "PENDING") for value in account.statuses().values())
            for account in accounts
        )
        return f"Pending — {reported} of {of_accounts} reported" if n else "Pending"
    if status != "FINISHED":
        return f"{refresh.status or 'Unknown status'} — {of_accounts}"
    entity_level = _entity_level_problems(refresh)
    if not accounts:
        return "Finished — " + "; ".join([*entity_level, "no account data reported"])
    failed_types = {t for a in accounts for t, v in a.statuses().items() if v == "FAILED"}
    failed_accounts = sum(any(v == "FAILED" for v in a.statuses().values()) for a in accounts)
    partial_types = {t for a in accounts for t, v in a.statuses().items() if v == "PARTIAL"}
    partial_accounts = sum(any(v == "PARTIAL" for v in a.statuses().values()) for a in accounts)
    parts = []
    if failed_types:
        parts.append(
            f"{len(failed_types)} of {len(ACCOUNT_DATA_TYPES)} data types failed on "
            f"{failed_accounts} of {of_accounts}"
        )
    if partial_types:
        names = ", ".join(t.replace("_", " ") for t in ACCOUNT_DATA_TYPES if t in partial_types)
        parts.append(f"{names} partial on {partial_accounts} of {of_accounts}")
    unknown = sorted(
        {
            str(v)
            for a in accounts
            for v in a.statuses().values()
            if v is not None and v not in KNOWN_DATA_STATUSES
        }
    )
    if unknown:
        parts.append("Lean's word " + ", ".join(unknown) + " on some data types")
    parts = entity_level + parts
    if not parts:
        return f"Finished — every data type succeeded or is unsupported on {of_accounts}"
    return "Finished — " + "; ".join(parts)


def _entity_level_problems(refresh: Refresh) -> list[str]:
    """What went wrong above the accounts: "the account list failed", "identity partial"."""
    if refresh.data_status is None:
        return []
    problems = []
    for name, label in (("accounts", "the account list"), ("identity", "identity")):
        value = getattr(refresh.data_status, name)
        if value == "FAILED":
            problems.append(f"{label} failed")
        elif value == "PARTIAL":
            problems.append(f"{label} partial")
        elif value is not None and value not in KNOWN_DATA_STATUSES:
            problems.append(f"{label}: Lean's word {value}")
    return problems


def summarize(event: StoredEvent) -> str:
    """One line saying what the event means."""
    parsed = parse_stored(event)
    if parsed is None:
        return event.type
    if event.type == "entity.data.refresh.updated" and (refresh := parsed.refresh()):
        return refresh_summary(refresh)
    if event.type in ("entity.created", "entity.updated") and (entity := parsed.entity()):
        bank = (entity.bank_details.name if entity.bank_details else None) or entity.bank_identifier
        verb = "connected" if event.type == "entity.created" else "consent changed"
        return f"{bank} {verb} · {len(entity.granted_permissions)} permissions"
    if event.type == "bank.availability.updated" and (availability := parsed.bank_availability()):
        identifier, flags = availability
        return f"{identifier}: data {flags.state('data').replace('_', ' ')}, payments {flags.state('payments').replace('_', ' ')}"
    return (
        f"Not interpreted by the console ({event.type})"
        if event.type not in KNOWN_EVENT_TYPES
        else event.type
    )


def inbox_rows(items: list[StoredEvent]) -> list[dict[str, Any]]:
    """Rows for the inbox table."""
    return [
        {
            "Occurred": e.occurred_at,
            "Type": TYPE_LABELS.get(e.type, e.type),
            "Summary": summarize(e),
            "Status": status_words(e),
            "Bank": e.bank or "",
            "app_user_id": e.app_user_id or "",
            "Deliveries": e.delivery_count,
            "Verified": "Yes" if e.verified else "No",
            "Received": e.received_at,
            "event_id": e.event_id,
        }
        for e in items
    ]


@dataclass(frozen=True)
class EventLink:
    """A link from an event to the screen about one of its subjects.

    `what` is the console's own words, `subject` comes from the webhook (untrusted).
    """

    what: str
    subject: str
    page: str
    query: dict[str, str]

    @property
    def label(self) -> str:
        """The link's words as plain text: `Customer usr_1`."""
        return f"{self.what} {self.subject}"

    @property
    def markdown_label(self) -> str:
        """The label for st.page_link, which renders Markdown: the subject is shown literally."""
        return f"{self.what} {literal_md(self.subject)}"


def event_links(event: StoredEvent) -> list[EventLink]:
    """Where an operator goes next from this event: its customer, its bank connection, the Data
    refreshes screen for a refresh, and the other events of the same entity, refresh and bank."""
    entity_query = {"entity_id": event.entity_id or ""}
    if event.customer_id:
        entity_query["customer_id"] = event.customer_id
    short_entity = f"{(event.entity_id or '')[:8]}…"
    short_refresh = f"{(event.refresh_id or '')[:8]}…"
    candidates = [
        (
            event.customer_id,
            "Customer",
            event.app_user_id or event.customer_id or "",
            "pages/customers.py",
            {"customer_id": event.customer_id or ""},
        ),
        (event.entity_id, "Bank connection", short_entity, "pages/entities.py", entity_query),
        (
            event.entity_id and event.refresh_id,
            "Data refreshes: refresh",
            short_refresh,
            "pages/refreshes.py",
            {**entity_query, "refresh_id": event.refresh_id or ""},
        ),
        (
            event.entity_id,
            "Events of entity",
            short_entity,
            "pages/webhooks.py",
            {"entity_id": event.entity_id or ""},
        ),
        (
            event.refresh_id,
            "Events of refresh",
            short_refresh,
            "pages/webhooks.py",
            {"refresh_id": event.refresh_id or ""},
        ),
        (
            event.bank,
            "Events of bank",
            event.bank or "",
            "pages/webhooks.py",
            {"bank": event.bank or ""},
        ),
    ]
    return [
        EventLink(what, subject, page, query)
        for value, what, subject, page, query in candidates
        if value
    ]


# A data type's status as the screens write it (the Data refreshes screen uses the same words);
# colour repeats the word. A word Lean adds later is shown as itself.
CELL_WORDS = {
    "SUCCESS": "success",
    "PARTIAL": "partial",
    "FAILED": "failed",
    "UNSUPPORTED": "unsupported",
    "PENDING": "pending",
}
NOT_REPORTED = "not reported"
DATA_TYPE_WORDS = {name: name.replace("_", " ").capitalize() for name in ACCOUNT_DATA_TYPES}
NOT_REPORTED_NOTE = (
    "“not reported”: Lean's webhook carried no value there (no status for that data type, or no "
    "transaction window yet); it says nothing about the data itself."
)


def cell_words(status: str | None) -> str:
    """`SUCCESS` → "success"; nothing → "not reported"; a word the console does not know is kept."""
    if status is None or not str(status).strip():
        return NOT_REPORTED
    return CELL_WORDS.get(str(status).upper(), str(status))


def refresh_account_rows(event: StoredEvent) -> list[dict[str, Any]]:
    """For a refresh event: one row per account (its full account_id), one column per data type in
    words, plus the transaction window Lean reported; a blank is "not reported"."""
    parsed = parse_stored(event)
    refresh = parsed.refresh() if parsed else None
    if refresh is None or refresh.data_status is None:
        return []
    rows = []
    for account in refresh.data_status.account_data:
        row: dict[str, Any] = {"Account": account.account_id or "no account_id"}
        row.update(
            {DATA_TYPE_WORDS[name]: cell_words(value) for name, value in account.statuses().items()}
        )
        window = account.transaction_availability
        start = window.start.date().isoformat() if window and window.start else None
        end = window.end.date().isoformat() if window and window.end else None
        months = window.complete_months if window else None
        row["Transactions from"] = start or NOT_REPORTED
        row["Transactions to"] = end or NOT_REPORTED
        row["Complete months"] = NOT_REPORTED if months is None else str(months)
        rows.append(row)
    return rows


def refresh_status_cells(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """`refresh_account_rows` one cell per row (Account, Data type, Status), accounts in order:
    a whole account_id and every data type's words fit a screen, which seven columns do not."""
    return [
        {"Account": row["Account"], "Data type": label, "Status": row[label]}
        for row in rows
        for label in DATA_TYPE_WORDS.values()
    ]


def arrival_delay(event: StoredEvent) -> str:
    """How long after Lean's timestamp the event first reached us, in words."""
    if event.lean_timestamp is None:
        return "—"
    seconds = (event.received_at - event.lean_timestamp).total_seconds()
    if seconds < 0:
        return "early (clock skew)"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def refresh_words(event: StoredEvent) -> str | None:
    """A refresh event's outcome in words (`refresh_summary`); None for other events."""
    if event.type != "entity.data.refresh.updated":
        return None
    parsed = parse_stored(event)
    refresh = parsed.refresh() if parsed else None
    return refresh_summary(refresh) if refresh is not None else None


def refresh_verdict(event: StoredEvent) -> str | None:
    """A refresh event's verdict on its data in one word (Failed, Partial, Pending, Success);
    None for other events, or when Lean's status is one the console does not know."""
    if event.type != "entity.data.refresh.updated":
        return None
    parsed = parse_stored(event)
    refresh = parsed.refresh() if parsed else None
    if refresh is None or (refresh.status or "").upper() not in KNOWN_REFRESH_STATUSES:
        return None
    summary = refresh_summary(refresh)
    if summary.startswith("Pending"):
        return "Pending"
    if " failed" in summary:
        return "Failed"
    if " partial" in summary:
        return "Partial"
    return "Success"


def status_words(event: StoredEvent) -> str:
    """The inbox's Status cell: a refresh's verdict on its data with Lean's word beside it
    ("Failed · FINISHED", "Partial · FINISHED", "Success · FINISHED"); others their status."""
    verdict = refresh_verdict(event)
    if verdict is None:
        return event.status or ""
    return f"{verdict} · {event.status}" if event.status else verdict
