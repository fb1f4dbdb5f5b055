"""The webhook inbox as operators read it: filters from the screen, one-line summaries, links."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, or_, select

from console.formatting import csv_cell, literal_md
from console.masking import mask_export_value
from console.store import (
    ENTITY_BANK,
    EVENT_COLUMNS,
    EVENTS_WITH_BANK,
    OCCURRED,
    EventFilter,
    EventStore,
    StoredEvent,
    events,
)
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


def inbox_table_rows(items: list[StoredEvent]) -> list[dict[str, Any]]:
    """`inbox_rows` with each time's zone in its column name, for the Webhooks screen."""
    zoned = {"Occurred": "Occurred (UTC)", "Received": "Received (UTC)"}
    return [{zoned.get(k, k): v for k, v in row.items()} for row in inbox_rows(items)]


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


# ---------------------------------------------------------------------------------------------
# The inbox as a URL: every filter and the page a reader is on, so a view pasted into a ticket
# opens to the same rows for someone else.
# ---------------------------------------------------------------------------------------------

# URL words for the time ranges (the screen shows the labels of `TIME_RANGES`).
RANGE_KEYS = {
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "all": "All time",
}
DEFAULT_RANGE = "30d"
ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
TYPE_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
BANK_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
STATUS_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_ .-]{0,63}")
CURSOR_SHAPE = re.compile(r"[1-9][0-9]{0,17}")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
EVENT_ID_LENGTH = 200
MAX_TEXT = 200
MAX_TYPES = 20
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
VERIFIED_WORDS = {"yes": True, "no": False}
# Every parameter the inbox reads; others (Streamlit's own `embed`…) are left alone.
INBOX_PARAMS = (
    "type", "status", "customer_id", "entity_id", "refresh_id", "bank", "verified",
    "range", "from", "to", "q", "asof", "before",
)  # fmt: skip
ID_RULE = "letters, digits, '-', '_', '.' or ':', at most 64 characters (Lean's ids are UUIDs)"


@dataclass(frozen=True)
class InboxView:
    """What the inbox shows: filters, plus where the reader is.

    `asof` is the newest event (by row id) the reader's list holds: newer events are announced,
    not inserted, so a later page never moves. `before` is the keyset cursor: the page starts
    just after that event in the list's order. Neither is set on the live first page.
    """

    types: tuple[str, ...] = ()
    status: str | None = None
    customer_id: str | None = None
    entity_id: str | None = None
    refresh_id: str | None = None
    bank: str | None = None
    verified: bool | None = None
    range: str = DEFAULT_RANGE
    date_from: date | None = None
    date_to: date | None = None
    text: str | None = None
    asof: int | None = None
    before: int | None = None

    @property
    def filters(self) -> InboxView:
        """The same view on its live first page (filters only)."""
        return replace(self, asof=None, before=None)

    @property
    def time_label(self) -> str:
        """The time range as the screen names it ("Custom dates" for from/to)."""
        return "Custom dates" if self.date_from else RANGE_KEYS[self.range]

    def to_query(self) -> dict[str, str | list[str]]:
        """The view as URL parameters (defaults left out)."""
        query: dict[str, str | list[str]] = {}
        if self.types:
            query["type"] = list(self.types)
        for name in ("status", "customer_id", "entity_id", "refresh_id", "bank"):
            if value := getattr(self, name):
                query[name] = value
        if self.verified is not None:
            query["verified"] = "yes" if self.verified else "no"
        if self.date_from:
            query["from"] = self.date_from.isoformat()
            if self.date_to and self.date_to != self.date_from:
                query["to"] = self.date_to.isoformat()
        elif self.range != DEFAULT_RANGE:
            query["range"] = self.range
        if self.text:
            query["q"] = self.text
        if self.asof:
            query["asof"] = str(self.asof)
        if self.before:
            query["before"] = str(self.before)
        return query

    def event_filter(self, now: datetime | None = None) -> EventFilter:
        """The store's filter for everything but status, verified and the reader's position."""
        custom = (self.date_from, self.date_to) if self.date_from else None
        return EventFilter(
            types=self.types,
            customer_id=self.customer_id,
            entity_id=self.entity_id,
            refresh_id=self.refresh_id,
            bank_identifier=self.bank,
            text=self.text,
            **dict(zip(("since", "until"), time_window(self.time_label, now, custom), strict=True)),
        )


class Refused(ValueError):
    """A URL or form value the inbox will not use; the message says why in plain words."""


def _shown(value: str) -> str:
    shown = CONTROL.sub("�", value)
    return literal_md(shown if len(shown) <= 60 else shown[:59] + "…")


def check_id(name: str, value: str) -> str | None:
    """A customer_id, entity_id or refresh_id as typed or linked (blank is None)."""
    value = value.strip()
    if not value:
        return None
    if not ID_SHAPE.fullmatch(value):
        raise Refused(f"{name} {_shown(value)} is not an id: an id is {ID_RULE}.")
    return value


def check_text(value: str) -> str | None:
    """Free text to search the payloads for (blank is None)."""
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_TEXT:
        raise Refused(f"the search text is {len(value):,} characters; at most {MAX_TEXT}.")
    if CONTROL.search(value):
        raise Refused("the search text holds control characters.")
    return value


def _check_shape(name: str, value: str, shape: re.Pattern[str], rule: str) -> str:
    if not shape.fullmatch(value):
        raise Refused(f"{name} {_shown(value)} is not {rule}.")
    return value


def _check_day(name: str, value: str) -> date:
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise Refused(f"{name} {_shown(value)} is not a date written as YYYY-MM-DD.")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise Refused(f"{name} {day.isoformat()} is outside {FIRST_DAY.year}–{LAST_DAY.year}.")
    return day


def _check_cursor(name: str, value: str) -> int:
    if not CURSOR_SHAPE.fullmatch(value):
        raise Refused(f"{name} {_shown(value)} is not a position in the list (a whole number).")
    return int(value)


def parse_inbox_query(
    params: Mapping[str, list[str]], known: Mapping[str, Collection[str]] | None = None
) -> tuple[InboxView, list[str]]:
    """The view a URL asks for, and a sentence for every value refused (left out of the view).

    A type, bank or status the store holds (`known`, by parameter name) is always accepted: the
    console's own links name them as Lean sent them. Never raises: a hostile link shows what it
    was refused for, never a traceback.
    """
    known = known or {}

    def stored_or(name: str, shape: re.Pattern[str], rule: str) -> Callable[[str], str]:
        def check(value: str) -> str:
            if value in known.get(name, ()):
                return value
            return _check_shape(name, value, shape, rule)

        return check

    problems: list[str] = []
    fields: dict[str, Any] = {}

    def single(name: str) -> str | None:
        values = [v for v in params.get(name, []) if v is not None]
        if not values or not any(v.strip() for v in values):
            return None
        if len(set(values)) > 1:
            problems.append(f"{name} is given {len(values)} times; a link names it once.")
            return None
        return values[0].strip()

    def take(name: str, field: str, check: Callable[[str], Any]) -> None:
        value = single(name)
        if value is None:
            return
        try:
            fields[field] = check(value)
        except Refused as exc:
            problems.append(str(exc))

    # Stored values are matched as stored; typed ones lose surrounding blanks.
    types = [t if t in known.get("type", ()) else t.strip() for t in params.get("type", [])]
    types = [t for t in types if t.strip()]
    if len(types) > MAX_TYPES:
        problems.append(f"type is given {len(types)} times; at most {MAX_TYPES}.")
        types = []
    kept = []
    check_type = stored_or("type", TYPE_SHAPE, "an event type")
    for value in dict.fromkeys(types):
        try:
            kept.append(check_type(value))
        except Refused as exc:
            problems.append(str(exc))
    fields["types"] = tuple(kept)
    for name in ("customer_id", "entity_id", "refresh_id"):
        take(name, name, lambda v, name=name: check_id(name, v))
    take("bank", "bank", stored_or("bank", BANK_SHAPE, "a bank identifier"))
    take("status", "status", stored_or("status", STATUS_SHAPE, "a status word"))

    def verified(value: str) -> bool:
        if value.lower() not in VERIFIED_WORDS:
            raise Refused(f"verified {_shown(value)} is neither yes nor no.")
        return VERIFIED_WORDS[value.lower()]

    def time_range(value: str) -> str:
        if value not in RANGE_KEYS:
            raise Refused(f"range {_shown(value)} is not one of {', '.join(RANGE_KEYS)}.")
        return value

    take("verified", "verified", verified)
    take("range", "range", time_range)
    take("from", "date_from", lambda v: _check_day("from", v))
    take("to", "date_to", lambda v: _check_day("to", v))
    if fields.get("date_to") and not fields.get("date_from"):
        problems.append("to is given without from; the dates are left out.")
        del fields["date_to"]
    if fields.get("date_from") and fields.get("date_to", fields["date_from"]) < fields["date_from"]:
        problems.append("to is before from; the dates are left out.")
        del fields["date_from"], fields["date_to"]
    take("q", "text", lambda v: check_text(v))
    take("asof", "asof", lambda v: _check_cursor("asof", v))
    take("before", "before", lambda v: _check_cursor("before", v))
    if fields.get("before") and not fields.get("asof"):
        # A page position without its list would move under the reader: start at the top.
        problems.append("before is given without asof; showing the first page.")
        del fields["before"]
    return InboxView(**fields), problems


def check_event_id(value: str) -> str:
    """An event_id from a link: any text Lean may have sent (it is shown literally), within the
    column's length; a longer one cannot have been stored."""
    if not value.strip() or len(value) > EVENT_ID_LENGTH or "\x00" in value:
        raise Refused(
            f"event_id {_shown(value)} is not an event id (1 to {EVENT_ID_LENGTH} characters)."
        )
    return value


# ---------------------------------------------------------------------------------------------
# Reading the inbox: keyset pages anchored on what the reader sees
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxPage:
    """One page of the inbox and where the reader can go from it."""

    items: list[StoredEvent]
    total: int  # events in the reader's list (up to `asof`)
    start: int  # position of the first row in the list, from 0
    asof: int | None  # the newest event id the list holds
    newer: int | None  # `before` of the previous page; None is the first page
    has_newer: bool
    older: int | None  # `before` of the next page; None when this is the last
    new_events: int  # matching events stored after `asof`: announced, not shown


def _conditions(store: EventStore, view: InboxView, now: datetime | None) -> list[Any]:
    # The store's own filter (the CSV export and the counts agree with it), plus what the
    # inbox adds.
    conditions = [store._where(view.event_filter(now))]
    if view.status:
        conditions.append(events.c.status == view.status)
    if view.verified is not None:
        conditions.append(events.c.verified == view.verified)
    return conditions


def _position(before: int) -> tuple[Any, Any]:
    occurred = select(OCCURRED).where(events.c.id == before).scalar_subquery()
    return occurred, literal(before)


def _older_than(before: int) -> Any:
    occurred, row_id = _position(before)
    at = OCCURRED
    return or_(at < occurred, and_(at == occurred, events.c.id < row_id))


def _newer_than(before: int) -> Any:
    occurred, row_id = _position(before)
    at = OCCURRED
    return or_(at > occurred, and_(at == occurred, events.c.id > row_id))


def newest_event_id(store: EventStore) -> int:
    """The highest event row id (0 for an empty store): what "now" is for a reader's list."""
    with store.connect() as conn:
        return int(conn.execute(select(func.max(events.c.id))).scalar() or 0)


def event_row_exists(store: EventStore, row_id: int) -> bool:
    """True when an event row has this id (a page cursor from a link)."""
    with store.connect() as conn:
        return conn.execute(select(events.c.id).where(events.c.id == row_id)).first() is not None


def event_statuses(store: EventStore) -> list[str]:
    """Every status word stored (Lean's words: FINISHED, PENDING, ACTIVE…), sorted."""
    with store.connect() as conn:
        statement = select(events.c.status).where(events.c.status.is_not(None)).distinct()
        return sorted(str(s) for s in conn.execute(statement).scalars())


def inbox_page(
    store: EventStore, view: InboxView, *, page_size: int = 50, now: datetime | None = None
) -> InboxPage:
    """The page the view points at, newest (by Lean's timestamp) first.

    The list is anchored at `view.asof` (the newest event id the reader has; the store's newest
    when None): events stored after it are counted as new, never slipped into the rows. Paging is
    by keyset from `view.before`, so a page is the same rows however many events arrive.
    """
    asof = view.asof or newest_event_id(store)
    matching = and_(*_conditions(store, view, now))
    in_list = and_(matching, events.c.id <= asof)
    here = and_(in_list, _older_than(view.before)) if view.before else in_list
    statement = (
        select(*EVENT_COLUMNS, ENTITY_BANK, events.c.id.label("row_id"))
        .select_from(EVENTS_WITH_BANK)
        .where(here)
        .order_by(OCCURRED.desc(), events.c.id.desc())
        .limit(page_size + 1)
    )
    with store.connect() as conn:
        rows = list(conn.execute(statement).mappings())
        total = int(conn.execute(select(func.count()).select_from(events).where(in_list)).scalar())
        new_events = int(
            conn.execute(
                select(func.count()).select_from(events).where(matching, events.c.id > asof)
            ).scalar()
        )
        start, newer = 0, None
        if view.before:
            # The rows above this page, nearest first: the count is where the page starts, and
            # the row just past a whole page of them is the previous page's cursor.
            above = or_(_newer_than(view.before), events.c.id == view.before)
            start = int(
                conn.execute(
                    select(func.count()).select_from(events).where(in_list, above)
                ).scalar()
            )
            nearest = list(
                conn.execute(
                    select(events.c.id)
                    .where(in_list, above)
                    .order_by(OCCURRED.asc(), events.c.id.asc())
                    .limit(page_size + 1)
                ).scalars()
            )
            newer = int(nearest[page_size]) if len(nearest) > page_size else None
    shown = rows[:page_size]
    return InboxPage(
        items=[_stored_row(r) for r in shown],
        total=total,
        start=start,
        asof=asof,
        newer=newer,
        has_newer=bool(view.before),
        older=int(shown[-1]["row_id"]) if len(rows) > page_size else None,
        new_events=new_events,
    )


def _stored_row(row: Any) -> StoredEvent:
    data = {k: v for k, v in row.items() if k != "row_id"}
    for name in ("lean_timestamp", "received_at", "last_received_at"):
        value = data[name]
        if value is not None:
            data[name] = (
                value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            )
    data["verified"] = bool(data["verified"])
    return StoredEvent(**data)


def export_inbox_csv(store: EventStore, view: InboxView, *, max_rows: int = 100_000) -> str:
    """The reader's list (every page, as filtered) as CSV, newest first, payload included.

    Masked like every export (`EventStore.export_csv`): the payload by its keys, an app_user_id
    that is an e-mail address or a phone number, personal data inside text that is not JSON.
    """
    buffer = io.StringIO()
    columns = [
        "event_id", "type", "lean_timestamp", "received_at", "last_received_at", "delivery_count",
        "verified", "customer_id", "entity_id", "app_user_id", "bank_identifier", "refresh_id",
        "status", "source_ip", "payload",
    ]  # fmt: skip
    writer = csv.writer(buffer)
    writer.writerow(columns)
    page = replace(view, before=None)
    written = 0
    while written < max_rows:
        batch = inbox_page(store, page, page_size=min(1000, max_rows - written))
        for item in batch.items:
            writer.writerow([csv_cell(mask_export_value(c, getattr(item, c))) for c in columns])
        written += len(batch.items)
        if batch.older is None:
            break
        page = replace(page, asof=batch.asof, before=batch.older)
    return buffer.getvalue()
