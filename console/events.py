"""The webhook inbox as operators read it: filters from the screen, one-line summaries, links."""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select, text
from sqlalchemy.engine import Connection

from console.background import BackgroundLoop, ingest_busy, yield_seconds
from console.formatting import csv_cell, literal_md
from console.masking import mask_export_value
from console.store import (
    BANK_ARRAY_ENTITIES,
    ENTITY_BANK,
    EVENT_COLUMNS,
    EVENTS_WITH_BANK,
    OCCURRED,
    EventFilter,
    EventStore,
    StoredEvent,
    StoreUnavailable,
    TextCandidates,
    _aware,
    _stored,
    events,
    index_entities,
    occurred_between,
    row_ids_in,
    without_jit,
)
from lean_api.models import (
    ACCOUNT_DATA_TYPES,
    KNOWN_DATA_STATUSES,
    KNOWN_REFRESH_STATUSES,
    AccountRefreshStatus,
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


SUCCEEDED = "every data type succeeded or is unsupported"


def refresh_summary(refresh: Refresh) -> str:
    """A refresh by what happened to the data, not only its lifecycle word.

    "Finished — 2 of 7 data types failed on 1 of 3 accounts", "Finished — transactions partial
    on 1 of 2 accounts", "Finished — every data type succeeded or is unsupported on 3 accounts",
    "Pending — 1 of 3 accounts reported". A word the console does not know is shown as itself.
    """
    word, detail = _refresh_words(refresh)
    return f"{word} — {detail}" if detail else word


def _refresh_words(refresh: Refresh) -> tuple[str, str | None]:
    """(the lifecycle word, what happened to the data) of `refresh_summary`."""
    status = (refresh.status or "").upper()
    accounts = _accounts(refresh)
    n = len(accounts)
    of_accounts = _accounts_words(n)
    if status == "PENDING":
        reported = sum(
            any(value not in (None, "PENDING") for value in account.statuses().values())
            for account in accounts
        )
        return "Pending", (f"{reported} of {of_accounts} reported" if n else None)
    if status != "FINISHED":
        return refresh.status or "Unknown status", of_accounts
    entity_level = _entity_level_problems(refresh)
    if not accounts:
        return "Finished", "; ".join([*entity_level, "no account data reported"])
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
        return "Finished", f"{SUCCEEDED} on {of_accounts}"
    return "Finished", "; ".join(parts)


def _accounts(refresh: Refresh) -> list[AccountRefreshStatus]:
    return refresh.data_status.account_data if refresh.data_status else []


def _accounts_words(n: int) -> str:
    return f"{n} account{'s' if n != 1 else ''}"


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


# A connection's permissions by name in a table row, at most this many characters: each row of a
# page goes to the browser, and a signed body may hold thousands of keys.
ROW_NAMES_CHARACTERS = 120
ROW_SUMMARY_CHARACTERS = 300


def row_summary(event: StoredEvent) -> str:
    """`summarize` in a table row beside the event's Type, Status and Bank cells: only what
    they do not say, so it fits the column at 1280 px where the whole line was cut after ~40
    characters ("RJHI_SAMAOB_SAU: data available, payn…" beside "Al Rajhi Bank"). At most
    `ROW_SUMMARY_CHARACTERS`: Lean's words in it (a status it does not know) are as long as a
    body allows."""
    words = _row_words(event)
    if len(words) > ROW_SUMMARY_CHARACTERS:
        return words[: ROW_SUMMARY_CHARACTERS - 1] + "…"
    return words


def _row_words(event: StoredEvent) -> str:
    parsed = parse_stored(event)
    if parsed is None:
        return summarize(event)
    if event.type == "entity.data.refresh.updated" and (refresh := parsed.refresh()):
        if (refresh.status or "").upper() not in KNOWN_REFRESH_STATUSES:
            return refresh_summary(refresh)  # the Status cell shows Lean's word without a verdict
        detail = _refresh_words(refresh)[1]
        if detail is None:
            return "No account data yet"
        if detail.startswith(SUCCEEDED):  # "Success · FINISHED" beside it
            accounts = _accounts(refresh)
            unsupported = any(v == "UNSUPPORTED" for a in accounts for v in a.statuses().values())
            return f"Succeeded on {_accounts_words(len(accounts))}" + (
                " (some data types unsupported)" if unsupported else ""
            )
        return detail[:1].upper() + detail[1:]
    if event.type in ("entity.created", "entity.updated") and (entity := parsed.entity()):
        if not event.bank:  # the Bank cell is empty: the line names the bank
            return summarize(event)
        granted = [p.replace("_", " ") for p in entity.granted_permissions]
        n = len(granted)
        names = ", ".join(granted)
        if len(names) > ROW_NAMES_CHARACTERS:  # Lean's keys, as many as a body holds
            names = names[: ROW_NAMES_CHARACTERS - 1].rstrip(", ") + "…"
        counted = f"{n} permission{'s' if n != 1 else ''}"
        return f"{counted}: {names}" if granted else "No permission granted"
    if event.type == "bank.availability.updated" and (availability := parsed.bank_availability()):
        identifier, flags = availability
        if event.bank != identifier:  # the Bank cell names another bank, or none
            return summarize(event)
        data, payments = (flags.state(k).replace("_", " ") for k in ("data", "payments"))
        return f"Data {data}, payments {payments}"
    if event.type not in KNOWN_EVENT_TYPES:
        return "Not interpreted by the console"
    return summarize(event)


def inbox_rows(
    items: list[StoredEvent], bank_names: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Rows for the inbox table; a bank by its name where the book index knows it."""
    names = bank_names or {}
    return [
        {
            "Occurred": e.occurred_at,
            "Type": TYPE_LABELS.get(e.type, e.type),
            "Summary": row_summary(e),
            "Status": status_words(e),
            "Bank": names.get(e.bank, e.bank) if e.bank else "",
            "app_user_id": e.app_user_id or "",
            "Deliveries": e.delivery_count,
            "Verified": "Yes" if e.verified else "No",
            "Received": e.received_at,
            "event_id": e.event_id,
        }
        for e in items
    ]


def inbox_table_rows(
    items: list[StoredEvent], bank_names: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """`inbox_rows` with each time's zone in its column name, for the Webhooks screen."""
    zoned = {"Occurred": "Occurred (UTC)", "Received": "Received (UTC)"}
    return [{zoned.get(k, k): v for k, v in row.items()} for row in inbox_rows(items, bank_names)]


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


# A verdict on a refresh's data, as a cell beside Lean's lifecycle word: "Failed · FINISHED"
# read as a contradiction (a first-day walk), though the refresh finished and its data failed.
VERDICT_CELL_WORDS = {"Failed": "Data failed", "Partial": "Data partial"}


def status_words(event: StoredEvent) -> str:
    """The inbox's Status cell: a refresh's verdict on its data with Lean's word beside it
    ("Data failed · FINISHED", "Data partial · FINISHED", "Success · FINISHED"); others their
    status."""
    verdict = refresh_verdict(event)
    if verdict is None:
        return event.status or ""
    verdict = VERDICT_CELL_WORDS.get(verdict, verdict)
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
        raise Refused(
            f"{name} {_shown(value)} is not a position in the list (a row number of up to 18 "
            "digits, from a link the inbox made)."
        )
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


# Counting at a million events: up to COUNT_CAP matches are counted exactly (cheap: the count
# stops there); beyond, the count is estimated from SAMPLE_SIZE events picked at random among
# the list's row ids, and the screen says "about". TEXT_CANDIDATES: a search text the index finds
# in at most this many events is read through the index, a commoner one along the inbox's order.
COUNT_CAP = 250
POSITION_CAP = 5000  # the rows above a later page, counted along the occurred index
SAMPLE_SIZE = 1500
DENSE_HITS = 30  # matches in the sample that make an estimate good enough (±20%) to show
TEXT_CANDIDATES = 20_000
# A common text is still asked of the text index, for at most this many rows, when every other
# filter has ROWS_PER_CANDIDATE times its events or more (`_common_text_named`).
TEXT_CANDIDATES_COMMON = 60_000
ROWS_PER_CANDIDATE = 4
SORTED_MERGE = 50_000  # index entries of several values of one filter, sorted to merge them
# A page of common matches is read along the inbox's order, for at most WALK_BUDGET times the
# rows the sample's density expects it in (more: the matches are not spread evenly).
WALK_BUDGET = 8
WALK_CHUNK = (100, 10_000)  # rows per statement of that walk: fewest, most
# Fewer matches than DENSE_HITS in the sample are still read along an index in the inbox's order
# when it found WALK_HITS and a page's reading is expected within WALK_ROWS rows.
WALK_HITS = 5
WALK_ROWS = 20_000
# A bank's events are read through two indexes (its own events', its connections') and lie
# scattered among every bank's: SQLite read 25,000 of them in 126 ms, a type's 27,000 in 5 ms.
BANK_ROW_COST = 4
NEW_ROWS_READ = 20_000  # events stored after a reader's list, read one by one to count the new
DISTINCT_LIMIT = 500


@dataclass(frozen=True)
class Count:
    """How many events: exact, or estimated (then `words` says "about")."""

    value: int
    estimated: bool = False
    # The sample found matches common (the count was not read, only estimated).
    dense: bool = field(default=False, compare=False)

    @property
    def words(self) -> str:
        """ "1,234", or "about 25,000": an estimate to two significant figures when the sample
        held many matches, to one when it held few."""
        if not self.estimated:
            return f"{self.value:,}"
        digits = max(len(str(self.value)) - (2 if self.dense else 1), 0)
        return f"about {round(self.value, -digits):,}"


def _capped_count(conn: Connection, condition: Any, cap: int) -> int:
    limited = select(literal(1)).select_from(events).where(condition).limit(cap + 1).subquery()
    return int(conn.execute(select(func.count()).select_from(limited)).scalar_one())


@dataclass(frozen=True)
class Sample:
    """What a random sample of the row ids low..high found: how many of the ids picked are rows
    (gaps left by deletions and PostgreSQL's skipped ids are not), and how many of those match
    each condition asked, in the order asked."""

    span: int
    picked: int
    present: int
    hits: tuple[int, ...]

    @property
    def whole(self) -> bool:
        """Every id was picked: the hits are counts, not estimates."""
        return self.picked >= self.span

    def count(self, which: int = 0) -> Count:
        """The `which`-th condition's matches, estimated from the sample (exact when whole)."""
        hits = self.hits[which]
        if self.whole:
            return Count(hits)
        if not self.present:
            return Count(0, estimated=True)
        return Count(round(self.span * hits / self.picked), estimated=True)

    def dense(self, which: int = 0) -> bool:
        """The sample found the condition's matches common (`DENSE_HITS` or more): its estimate
        can be shown, and a page of them is met soon along the inbox's order."""
        return not self.whole and self.hits[which] >= DENSE_HITS


def sample_rows(
    conn: Connection, conditions: Sequence[Any], low: int, high: int, seed: int
) -> Sample:
    """Test `conditions` on a random sample of `SAMPLE_SIZE` row ids among low..high, all in
    one statement (each condition is tested on the row, never chosen as an index to read)."""
    span = max(high - low + 1, 0)
    picked = random.Random(seed).sample(range(low, high + 1), min(SAMPLE_SIZE, span))
    if not picked:
        return Sample(span, 0, 0, tuple(0 for _ in conditions))
    tested = [func.coalesce(func.sum(case((c, 1), else_=0)), 0) for c in conditions]
    present, *hits = conn.execute(
        select(func.count(), *tested).where(row_ids_in(conn.dialect.name, picked))
    ).one()
    return Sample(span, len(picked), int(present), tuple(int(h) for h in hits))


def _lowest_id(conn: Connection) -> int:
    return int(conn.execute(select(func.min(events.c.id))).scalar() or 0)


def count_matching(
    conn: Connection,
    condition: Any,
    asof: int,
    cap: int | None = None,
    *,
    sample: Sample | None = None,
    which: int = 0,
    counted: int | None = None,
) -> Count:
    """Events up to row `asof` matching `condition`: exact up to `COUNT_CAP`, else estimated.

    A random sample comes first (`sample`, its `which`-th condition, when the caller took one
    already): when it finds matches common (`DENSE_HITS` or more), its estimate is the answer;
    counting them would read thousands of rows. Otherwise the matches are counted up to
    `COUNT_CAP`, through whatever index serves the filter (`counted`: read already, capped).
    """
    if sample is None:
        sample, which = sample_rows(conn, [condition], _lowest_id(conn), asof, seed=asof), 0
    estimate = sample.count(which)
    if not estimate.estimated:
        return estimate
    cap = COUNT_CAP if cap is None else cap
    if sample.dense(which) and estimate.value > cap:
        return Count(estimate.value, estimated=True, dense=True)
    # `+ 0`: a bound the planner should not pick as its index (the whole list is under it).
    exact = counted
    if exact is None:
        exact = _capped_count(conn, and_(condition, events.c.id + 0 <= asof), cap)
    if exact <= cap:
        return Count(exact)
    return Count(max(estimate.value, cap + 1), estimated=True)


def stored_events(store: EventStore) -> Count:
    """How many events the store holds (estimated beyond `COUNT_CAP`, as the inbox's counts)."""
    with store.connect() as conn:
        newest = int(conn.execute(select(func.max(events.c.id))).scalar() or 0)
        return count_matching(conn, literal(True), newest)


def distinct_values(store: EventStore, name: str) -> list[str]:
    """Every value of an indexed column (type, bank_identifier, status), sorted: one index seek
    per value (a loose index scan), where DISTINCT or GROUP BY would read a million entries."""
    if name not in ("type", "bank_identifier", "status"):
        raise ValueError(f"{name} is not an indexed event column")
    statement = text(
        f"WITH RECURSIVE v(x) AS (SELECT min({name}) FROM webhook_events UNION ALL "
        f"SELECT (SELECT min({name}) FROM webhook_events WHERE {name} > v.x) FROM v "
        "WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL LIMIT :n"
    )
    with store.connect() as conn:
        return [str(v) for v in conn.execute(statement, {"n": DISTINCT_LIMIT}).scalars()]


def bank_names(store: EventStore) -> dict[str, str]:
    """Bank identifier -> the bank's name, for the banks whose name the book index has heard."""
    statement = (
        select(index_entities.c.bank_identifier, func.min(index_entities.c.bank_name))
        .where(index_entities.c.bank_name.is_not(None), index_entities.c.bank_name != "")
        .group_by(index_entities.c.bank_identifier)
    )
    with store.connect() as conn:
        return {str(b): str(n) for b, n in conn.execute(statement) if b}


@dataclass(frozen=True)
class InboxPage:
    """One page of the inbox and where the reader can go from it."""

    items: list[StoredEvent]
    total: int  # events in the reader's list (up to `asof`); estimated when `total_estimated`
    start: int  # position of the first row in the list, from 0; estimated when `start_estimated`
    asof: int | None  # the newest event id the list holds
    newer: int | None  # `before` of the previous page; None is the first page
    has_newer: bool
    older: int | None  # `before` of the next page; None when this is the last
    new_events: int  # matching events stored after `asof`: announced, not shown (capped)
    total_estimated: bool = False
    start_estimated: bool = False
    total_dense: bool = False  # estimated from many sampled matches (two significant figures)

    @property
    def position_words(self) -> str:
        """ "51–100 of 1,234"; "51–100 of about 480,000"; "about 12,000 events above these 50,
        of about 480,000" when the position itself is estimated."""
        total = Count(self.total, self.total_estimated, self.total_dense).words
        if self.start_estimated:
            above = Count(self.start, True).words
            return f"{above} events above these {len(self.items)}, of {total}"
        return f"{self.start + 1:,}–{self.start + len(self.items):,} of {total}"

    @property
    def new_events_words(self) -> str:
        """ "3 new events" or "more than 2,000 new events"."""
        if self.new_events > COUNT_CAP:
            return f"more than {COUNT_CAP:,} new events"
        return f"{self.new_events:,} new event{'s' if self.new_events != 1 else ''}"


def _conditions(
    store: EventStore,
    view: InboxView,
    now: datetime | None,
    text_rows: Any = True,
    *,
    bank_entities_as_array: bool = False,
) -> list[Any]:
    # The store's own filter (the CSV export and the counts agree with it), plus what the
    # inbox adds.
    flt = view.event_filter(now)
    conditions = [
        store.event_conditions(
            flt, text_rows=text_rows, bank_entities_as_array=bank_entities_as_array
        )
    ]
    if view.status:
        conditions.append(events.c.status == view.status)
    if view.verified is not None:
        conditions.append(events.c.verified == view.verified)
    return conditions


# The view's filters that have an index of their own (the column's, by time), in the order a
# tie between them goes: an id names few events, a status or a type many.
SEEKABLE = ("customer_id", "entity_id", "refresh_id", "bank", "types", "status", "verified")


def _filter_terms(store: EventStore, view: InboxView) -> dict[str, Any]:
    """Each of the view's `SEEKABLE` filters as a condition of its own, by name."""
    terms: dict[str, Any] = {}
    for name in SEEKABLE:
        value = getattr(view, name)
        if name == "status" and value:
            terms[name] = events.c.status == value
        elif name == "verified" and value is not None:
            terms[name] = events.c.verified == value
        elif name not in ("status", "verified") and value:
            field_name = "bank_identifier" if name == "bank" else name
            terms[name] = store.event_conditions(EventFilter(**{field_name: value}))
    return terms


def _in_order(view: InboxView, name: str) -> bool:
    """The filter's index holds its matches in the inbox's order: one status, type or id (a
    bank's are in two indexes, several types' in several ranges)."""
    return name != "bank" and (name != "types" or len(view.types) == 1)


def _seeking(
    store: EventStore,
    view: InboxView,
    now: datetime | None,
    text_rows: Any,
    terms: dict[str, Any],
    seek: str,
) -> Any:
    """The view's condition with only the `seek` filter's index offered to SQLite's planner (its
    time window and text as usual); every other filter is tested on the rows that index names.

    SQLite keeps no statistics, so between two filters it picks an index by the order it meets
    them: status PENDING with type "bank availability" (no event is both) read PENDING's 480,000
    rows twice, for the count and for the page (2.4 s), where the type's 7,800 take 10 ms.
    `terms`: the view's `_filter_terms`."""
    rest = replace(view, **{name: () if name == "types" else None for name in terms})
    others = [_row_by_row_sqlite(term) for name, term in terms.items() if name != seek]
    return and_(*_conditions(store, rest, now, text_rows), terms[seek], *others)


def _cheapest_seek(view: InboxView, terms: Sequence[str], sample: Sample, first: int) -> str:
    """Which filter's index reads fewest rows for the count and the page, by the sample (its hits
    of every filter together at 0, of each filter alone from `first`, in `terms`' order).

    One status, one type or one id has its matches in the inbox's order in its index: the reading
    stops at the `COUNT_CAP`-th that passes the other filters. A bank (two indexes) or several
    types are read whole and sorted; a bank's rows cost `BANK_ROW_COST` times more. So over a
    million events PENDING's index wins with a bank where a fortieth of it passes (10,000 rows
    read for the count, where the bank's 25,000 would be), and loses to a type no PENDING event
    has (all 480,000 read, against 7,800)."""
    together = sample.hits[0]

    def rows_read(name: str, hits: int) -> float:
        matches = hits * sample.span / max(sample.picked, 1)
        if name == "bank":
            return BANK_ROW_COST * matches
        if not _in_order(view, name):
            return matches
        return min(matches, (COUNT_CAP + 1) * hits / together) if together else matches

    hits = sample.hits[first : first + len(terms)]
    costs = [(rows_read(name, h), i) for i, (name, h) in enumerate(zip(terms, hits, strict=True))]
    return terms[min(costs)[1]]


def _walk_along(
    view: InboxView, terms: Sequence[str], sample: Sample, first: int, want: int
) -> tuple[str | None, float | None]:
    """The index to read a page along, and the share of its rows that match: one filter's whose
    matches it holds in the inbox's order (one status, type or id: fewest rows to read for a
    page), or the occurred index (None), when the sample found `WALK_HITS` matches or more and
    `want` of them are expected within `WALK_ROWS` rows (always when it found them common);
    else (None, None).

    PostgreSQL estimates a text's matches from its length alone (a handful for "FINISHED", in
    half of a million events): with a status it read and sorted the status's 15,800 events of a
    day, testing the text on each (0.29 s), where along the status's index 51 are met in the
    first hundred; with a bank it read the whole table (0.73 s warm, 1.3 GB)."""
    together = sample.hits[0]
    if together < WALK_HITS:
        return None, None
    options: list[tuple[float, int, str | None, float]] = [
        (sample.present / together, len(terms), None, together / sample.present)
    ]
    for i, name in enumerate(terms):
        hits = sample.hits[first + i]
        if _in_order(view, name) and hits:
            options.append((hits / together, i, name, min(together / hits, 1.0)))
    rows_per_match, _, along, density = min(options)
    if rows_per_match * want > WALK_ROWS and not sample.dense(0):
        return None, None
    return along, density


def _text_rows(
    store: EventStore,
    view: InboxView,
    now: datetime | None,
    common: bool = False,
    limit: int = TEXT_CANDIDATES,
) -> Any:
    """How the text index serves this view's search (see `EventStore.event_conditions`): not at
    all for a text the sample found common (the inbox's order meets a page of it sooner than an
    index names its thousands of rows, and PostgreSQL's GIN bitmap cannot stop early); else the
    rows it names, when at most `limit` (PostgreSQL: those of them that pass the view's other
    filters, tested in the same statement)."""
    if not view.text:
        return True
    if common:
        return False
    if store.dialect == "postgresql" and _filters_beyond_text(view):
        among = _other_filters(store, view, now)
        candidates = store.text_candidates(
            view.text, limit=limit, among=among, types=view.types, status=view.status
        )
    else:
        candidates = store.text_candidates(view.text, limit=limit)
    return candidates if candidates is not None else False


def _other_filters(store: EventStore, view: InboxView, now: datetime | None) -> Any:
    """The view's filters besides its text, as one condition on the events."""
    return and_(*_conditions(store, replace(view, text=None), now))


def _common_text_named(sample: Sample, terms_at: int) -> bool:
    """A text the sample found common is still asked of the text index when the other filters
    leave few of its matches and each of them has many more events than the text (at most
    `TEXT_CANDIDATES_COMMON` named): otherwise every event of the rarest filter is read and the
    text tested on its body. "iban" (23,000 entity events) with status PENDING (480,000, none of
    them an entity event) read every PENDING body: 3.0–3.2 s warm on both stores."""
    if sample.dense(0) or len(sample.hits) <= terms_at:
        return False
    fewest = min(sample.hits[terms_at:])
    text = sample.count(1)
    return sample.hits[1] * ROWS_PER_CANDIDATE <= fewest and text.value <= TEXT_CANDIDATES_COMMON


def _row_by_row(conn: Connection, condition: Any) -> Any:
    """`condition` as a test on each row read, never an index for SQLite's planner to pick: for
    the few rows a range of row ids holds (events stored after a reader's list), where SQLite,
    without statistics, would rather read a common type's or status's whole index for them.
    PostgreSQL's planner weighs its statistics and is left to choose.

    A `CASE`, which SQLite's planner does not look into: `likely(…)`, used before, is stripped
    before the terms are split, so `likely(status = ? AND …)` still offered the status index
    (a status filter's new events over the last 11,688 of a million: 719 ms, against 31 ms)."""
    if conn.dialect.name != "sqlite":
        return condition
    return _row_by_row_sqlite(condition)


def _row_by_row_sqlite(condition: Any) -> Any:
    return case((condition, 1), else_=0) == 1


def _sorted_by_index(view: InboxView, matches: int) -> bool:
    """The view filters one column of `SORTED_FILTERS` (and the time window), so that column's
    index holds its matches in the inbox's order: one value is one seek; several are merged by
    sorting the index entries alone, cheap up to `SORTED_MERGE` of them (a walk along the order
    would read rows, and more of them when the matches are not spread evenly)."""
    if view.text or view.bank:
        return False
    named = [len(view.types)] + [
        1 for value in (view.customer_id, view.entity_id, view.refresh_id, view.status) if value
    ]
    named += [1] if view.verified is not None else []
    named = [n for n in named if n]
    return len(named) == 1 and (named[0] == 1 or matches <= SORTED_MERGE)


def _cursor_at(conn: Connection, before: int) -> Any:
    """When the cursor's event occurred (None when it is gone)."""
    return conn.execute(select(OCCURRED).where(events.c.id == before)).scalar()


def _older_than(at: Any, before: int) -> Any:
    # A plain range on the occurred index first (every planner can seek it), then the tie.
    return and_(at >= OCCURRED, or_(at > OCCURRED, events.c.id < before))


def _newer_than(at: Any, before: int) -> Any:
    return and_(at <= OCCURRED, or_(at < OCCURRED, events.c.id > before))


def _order(newest: bool) -> tuple[Any, Any]:
    """The inbox's order (when events occurred, then row id), newest first or oldest first."""
    if newest:
        return OCCURRED.desc(), events.c.id.desc()
    return OCCURRED.asc(), events.c.id.asc()


def _walk(
    conn: Connection,
    condition: Any,
    bounds: list[Any],
    want: int,
    density: float | None,
    *,
    newest: bool = True,
    along: Any = None,
) -> list[int] | None:
    """The first `want` ids matching `condition` in the inbox's order (newest first, or oldest
    first), read along the occurred index within `bounds` (its ranges) in chunks sized by the
    matches' `density`; None when there is no density to go by, or when `WALK_BUDGET` times
    the rows it expects did not hold them (not spread evenly: the caller's indexes serve).

    The condition is tested on each row read, never offered to the planner, which would pick a
    filter's index and sort every match (SQLite, without statistics), or estimate a text's
    matches at a handful and sort the whole table for them (PostgreSQL). `along`: one filter
    whose index holds its matches in the inbox's order, read instead of the occurred index
    (`density` is then the matches' share of its rows).
    """
    if density is None:
        return None
    expected = want / density
    chunk = int(min(max(2 * expected, WALK_CHUNK[0]), WALK_CHUNK[1]))
    order = _order(newest)
    past = _older_than if newest else _newer_than
    found: list[int] = []
    read, resume = 0, list(bounds)
    while read < WALK_BUDGET * expected:
        # The chunk's ids from the index, then the test on those rows alone (PostgreSQL would
        # test every row it sorts, then keep the chunk).
        ids = select(events.c.id, OCCURRED.label("at")).where(*resume)
        ids = ids.where(along) if along is not None else ids
        step = ids.order_by(*order).limit(chunk).subquery("step")
        # Only the matches come back, in order, and the chunk's last row to go on from (its
        # thousands of rows fetched and sorted here were a third of a page's time).
        in_order = [step.c.at.desc(), step.c.id.desc()] if newest else [step.c.at, step.c.id]
        tested = (
            select(
                step.c.id,
                step.c.at,
                case((condition, 1), else_=0).label("hit"),
                func.row_number().over(order_by=in_order).label("n"),
                func.count().over().label("size"),
            )
            .select_from(step.join(events, events.c.id == step.c.id))
            .subquery("tested")
        )
        kept = or_(tested.c.hit == 1, tested.c.n == tested.c.size)
        rows = sorted(conn.execute(select(tested).where(kept)).all(), key=lambda row: row.n)
        found += [int(row.id) for row in rows if row.hit]
        size = rows[-1].size if rows else 0
        read += size
        if len(found) >= want or size < chunk:
            return found[:want]
        resume = [past(rows[-1].at, rows[-1].id), *bounds]  # SQLite seeks the first bound
    return None


def _few_connections(conn: Connection, bank: str) -> bool:
    """The book index knows at most `BANK_ARRAY_ENTITIES` connections at `bank`."""
    some = select(index_entities.c.entity_id).where(index_entities.c.bank_identifier == bank)
    counted = select(func.count()).select_from(some.limit(BANK_ARRAY_ENTITIES + 1).subquery())
    return int(conn.execute(counted).scalar_one()) <= BANK_ARRAY_ENTITIES


def _first_ids(
    conn: Connection,
    condition: Any,
    window: list[Any],
    cursor: list[Any],
    want: int,
    density: float | None,
    *,
    newest: bool = True,
    along: Any = None,
) -> list[int]:
    """The first `want` ids matching `condition` past `cursor`, in the inbox's order (newest
    first, or oldest first): walked along the order when `density` says matches are common
    (`_walk`, within the time `window`), else from the indexes alone where they cover the
    filter (`condition` holds the window then): sorting thousands of matches with their bodies
    is what costs."""
    # The cursor's bound first: SQLite seeks the first of two bounds on one column (a week's
    # window before the rows above a later page read 100,000 index entries for 50).
    bounds = [*cursor, *window]
    found = _walk(conn, condition, bounds, want, density, newest=newest, along=along)
    if found is not None:
        return found
    order = _order(newest)
    return list(
        conn.execute(
            select(events.c.id).where(*cursor, condition).order_by(*order).limit(want)
        ).scalars()
    )


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
    return distinct_values(store, "status")


def inbox_page(
    store: EventStore, view: InboxView, *, page_size: int = 50, now: datetime | None = None
) -> InboxPage:
    """The page the view points at, newest (by Lean's timestamp) first.

    The list is anchored at `view.asof` (the newest event id the reader has; the store's newest
    when None): events stored after it are counted as new, never slipped into the rows. Paging is
    by keyset from `view.before`, so a page is the same rows however many events arrive. Counts
    beyond `COUNT_CAP` are estimated (`InboxPage.total_estimated`).

    One random sample of the list comes first and decides how the rest is read: its estimate is
    the total when matches are common, and then the page is read along the inbox's order rather
    than through a filter's index; a search text it found common is not asked of the text index.
    """
    asof = view.asof or newest_event_id(store)
    with store.connect() as conn:
        at = _cursor_at(conn, view.before) if view.before else None
        if at is None:
            view = replace(view, before=None)
        # Tested on the sampled rows themselves: no index is needed for 1,500 of them.
        asked = [and_(*_conditions(store, view, now, text_rows=False))]
        if view.text:
            asked.append(store.event_conditions(EventFilter(text=view.text), text_rows=False))
        above_at = len(asked)
        if view.before:
            asked.append(and_(asked[0], _newer_than(at, view.before - 1)))
        # Each filter alone too (in the time range): which index to read along (`_walk_along`),
        # and on SQLite which one's index to read (`_seeking`).
        terms = _filter_terms(store, view)
        flt = view.event_filter(now)
        window = occurred_between(flt.since, flt.until)
        terms_at = len(asked)
        if len(terms) > 1 or (terms and view.text):
            asked += [and_(term, *window) for term in terms.values()]
        sample = sample_rows(conn, asked, _lowest_id(conn), asof, seed=asof)
    common = bool(view.text) and sample.dense(1)
    if common and _common_text_named(sample, terms_at):
        text_rows = _text_rows(store, view, now, limit=TEXT_CANDIDATES_COMMON)
    else:
        text_rows = _text_rows(store, view, now, common=common)
    matching = and_(*_conditions(store, view, now, text_rows))
    if _placed_by_index(view, text_rows, asof, sample):
        return _text_page(store, view, text_rows, matching, asof, at, page_size, now)
    # Common matches (a density the sample measured) are met soonest along the inbox's order,
    # unless a sorted index holds them all in few enough entries to sort.
    sorted_by_index = _sorted_by_index(view, sample.count(0).value)
    along, density = None, None
    if not sorted_by_index and len(sample.hits) > terms_at:
        along, density = _walk_along(view, list(terms), sample, terms_at, page_size + 1)
    if density is None and sample.dense(0) and not sorted_by_index:
        density = sample.hits[0] / sample.present
    if store.dialect == "sqlite" and along is not None:
        # Handed that filter's index alone, SQLite reads it in order and stops at the page's
        # last match: fewer rows than a walk's chunks.
        matching = _seeking(store, view, now, text_rows, terms, along)
        along, density = None, None
    elif store.dialect == "sqlite" and len(terms) > 1 and density is None:
        seek = _cheapest_seek(view, list(terms), sample, terms_at)
        matching = _seeking(store, view, now, text_rows, terms, seek)
    in_list = and_(matching, events.c.id <= asof)
    along_index = None if along is None else and_(terms[along], *window)
    with store.connect() as conn:
        without_jit(conn)
        # The same events, in the form their capped count is read fastest in.
        counted = matching
        if view.bank and store.dialect == "postgresql" and _few_connections(conn, view.bank):
            counted = and_(*_conditions(store, view, now, text_rows, bank_entities_as_array=True))
        few = _all_matches(conn, counted, asof, sample)
        if few is not None and len(few) <= COUNT_CAP:
            rows, above, newer = _page_of(conn, few, view, at, page_size)
            new_events = _new_events(conn, matching, asof)
            return _inbox_page(
                rows, page_size, Count(len(few)), Count(above), asof, newer, view, new_events
            )
        read = None if few is None else len(few)
        total = count_matching(conn, counted, asof, sample=sample, counted=read)
        cursor = [_older_than(at, view.before)] if view.before else []
        page_ids = _first_ids(
            conn, in_list, window, cursor, page_size + 1, density, along=along_index
        )
        rows = _rows_whole(conn, page_ids)
        new_events = _new_events(conn, matching, asof)
        start, newer = Count(0), None
        if view.before:
            # The rows above this page, nearest first: the count is where the page starts, and
            # the row just past a whole page of them is the previous page's cursor.
            above = _newer_than(at, view.before - 1)
            # Above the page is a range of the occurred index: counted exactly further.
            start = count_matching(
                conn, and_(above, counted), asof, cap=POSITION_CAP, sample=sample, which=above_at
            )
            nearest = _first_ids(
                conn,
                in_list,
                window,
                [above],
                page_size + 1,
                density,
                newest=False,
                along=along_index,
            )
            newer = int(nearest[page_size]) if len(nearest) > page_size else None
    return _inbox_page(rows, page_size, total, start, asof, newer, view, new_events)


def _inbox_page(
    rows: list[Any],
    page_size: int,
    total: Count,
    start: Count,
    asof: int,
    newer: int | None,
    view: InboxView,
    new_events: int,
) -> InboxPage:
    shown = rows[:page_size]
    return InboxPage(
        items=[_stored_row(r) for r in shown],
        total=total.value,
        start=start.value,
        asof=asof,
        newer=newer,
        has_newer=bool(view.before),
        older=int(shown[-1]["row_id"]) if len(rows) > page_size else None,
        new_events=new_events,
        total_estimated=total.estimated,
        start_estimated=start.estimated,
        total_dense=total.dense,
    )


def _rows_whole(conn: Connection, page_ids: list[int]) -> list[Any]:
    """The page's rows whole (chosen by id first: only these bodies are read)."""
    if not page_ids:
        return []
    statement = (
        select(*EVENT_COLUMNS, ENTITY_BANK, events.c.id.label("row_id"))
        .select_from(EVENTS_WITH_BANK)
        .where(row_ids_in(conn.dialect.name, page_ids))
        .order_by(OCCURRED.desc(), events.c.id.desc())
    )
    return list(conn.execute(statement).mappings())


def _new_events(conn: Connection, matching: Any, asof: int, tested: Any = None) -> int:
    """Matching events stored after `asof` (capped): read as a range of row ids while that range
    is short (a filter's index would offer every match it holds to the test `id > asof`), each
    row tested by `tested` when given (the same matches, without the text index's ids)."""
    newest = int(conn.execute(select(func.max(events.c.id))).scalar() or 0)
    if newest - asof <= NEW_ROWS_READ:
        matching = _row_by_row(conn, matching if tested is None else tested)
    return _capped_count(conn, and_(events.c.id > asof, matching), COUNT_CAP)


def _placed_by_index(view: InboxView, text_rows: Any, asof: int, sample: Sample) -> bool:
    """The page, the count and the position are read off what the text index named
    (`_text_page`): when it reached nearly as far as the list, and either named the matches
    with when each occurred (PostgreSQL: any view) or other filters leave few of its matches
    (SQLite: each named row is read and tested; a search alone, or a combination the sample
    found common, is met sooner along the inbox's order)."""
    if not isinstance(text_rows, TextCandidates):
        return False
    if asof - text_rows.indexed_through > NEW_ROWS_READ:
        return False
    if text_rows.occurred is not None:
        return True
    return _filters_beyond_text(view) and not sample.dense(0)


def _text_page(
    store: EventStore,
    view: InboxView,
    named: TextCandidates,
    matching: Any,
    asof: int,
    at: Any,
    page_size: int,
    now: datetime | None,
) -> InboxPage:
    """A search's page from what the text index named (at most `TEXT_CANDIDATES` events): those
    up to `asof` that match, plus the events the index had not reached yet (tested row by row),
    put in the inbox's order here. PostgreSQL's index names its matches exactly with when each
    occurred: nothing is read for a search alone, and other filters are tested in one statement
    over those ids; SQLite's are read and tested, text too, in one statement. The count and the
    page's position are exact, and only the page's rows are read whole.

    Walking the inbox's time index instead read 47,000 rows for an Arabic bank name in ~6,000 of
    a million events (PostgreSQL, 1.9 s with cold caches), and the whole of a status's index when
    the status left none of them (40 s cold, 1.7 s warm; SQLite 2.0 s cold, 0.3 s warm)."""
    flt = view.event_filter(now)
    since, until = _aware(flt.since), _aware(flt.until)
    # Every filter, the text tested on the row itself: for the rows the index had not reached,
    # for SQLite's candidates, and for those stored after the list.
    plain = and_(*_conditions(store, view, now, text_rows=False))
    with store.connect() as conn:
        without_jit(conn)
        if named.occurred is None:  # SQLite: each named row tested
            ids = row_ids_in(conn.dialect.name, [i for i in named if i <= asof])
            found = _times(conn, ids, _row_by_row(conn, plain))
        else:
            times = ((_aware(o), i) for i, o in zip(named, named.occurred, strict=True))
            found = [key for key in times if key[1] <= asof and _within(key[0], since, until)]
            if not named.among:
                # Only events still stored (one deleted since the index named it, or whose
                # index row outlived it) that pass the other filters: one lookup of the ids.
                others = _other_filters(store, view, now)
                ids = row_ids_in(conn.dialect.name, [i for _, i in found])
                kept = set(conn.execute(select(events.c.id).where(ids, others)).scalars())
                found = [key for key in found if key[1] in kept]
        # The index's cursor was read just before what it named: a batch committed in between
        # puts rows past the cursor among them too.
        named_ids = {i for _, i in found}
        # (Row by row: SQLite, without statistics, would rather read a status's whole index.)
        tail = and_(events.c.id > named.indexed_through, events.c.id <= asof)
        not_yet = _times(conn, tail, _row_by_row(conn, plain))
        found += [key for key in not_yet if key[1] not in named_ids]
        rows, above, newer = _page_of(conn, found, view, at, page_size)
        new_events = _new_events(conn, matching, asof, tested=plain)
    return _inbox_page(
        rows, page_size, Count(len(found)), Count(above), asof, newer, view, new_events
    )


def _page_of(
    conn: Connection, found: list[tuple[Any, int]], view: InboxView, at: Any, page_size: int
) -> tuple[list[Any], int, int | None]:
    """The page `view` points at among every match of the list, `found` as (occurred, id): its
    rows read whole (and one more, when a next page follows), how many matches are above it,
    and the previous page's cursor."""
    listed = sorted(found, reverse=True)
    if not view.before:
        return _rows_whole(conn, [key[1] for key in listed[: page_size + 1]]), 0, None
    cursor = (_aware(at), view.before)
    above = [key for key in listed if key >= cursor]
    page = [key for key in listed if key < cursor][: page_size + 1]
    nearest = above[::-1]
    newer = nearest[page_size][1] if len(nearest) > page_size else None
    return _rows_whole(conn, [key[1] for key in page]), len(above), newer


def _times(conn: Connection, *conditions: Any, limit: int | None = None) -> list[tuple[Any, int]]:
    """(when it occurred, id) of each event matching `conditions` (at most `limit` of them)."""
    rows = conn.execute(select(events.c.id, OCCURRED).where(*conditions).limit(limit)).all()
    return [(_aware(row[1]), int(row[0])) for row in rows]


def _all_matches(
    conn: Connection, condition: Any, asof: int, sample: Sample
) -> list[tuple[Any, int]] | None:
    """The events up to row `asof` matching `condition`, as (occurred, id): all of them when
    they are at most `COUNT_CAP`, else one more (None when the sample found them common and
    more: they are estimated, not read). The capped count reads them anyway, and the page, its
    position and the previous page's cursor are then taken from them, where reading the page
    apart read them all a second time. A filter that leaves none reads its index once: status
    ACTIVE with a text no entity event holds tested the text on 23,000 bodies twice (0.66 s on
    PostgreSQL)."""
    if sample.dense(0) and sample.count(0).value > COUNT_CAP:
        return None
    # `+ 0`: a bound the planner should not pick as its index (the whole list is under it).
    return _times(conn, condition, events.c.id + 0 <= asof, limit=COUNT_CAP + 1)


def _filters_beyond_text(view: InboxView) -> bool:
    """The view filters more than a text and a time range."""
    return bool(
        view.types or view.status or view.customer_id or view.entity_id or view.refresh_id
    ) or bool(view.bank or view.verified is not None)


def _within(at: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    """`occurred_between`'s test, on a time read already."""
    return at is not None and (since is None or since <= at) and (until is None or at < until)


log = logging.getLogger(__name__)


class SearchIndexer(BackgroundLoop):
    """Adds newly stored events to the text index in small batches, in a daemon thread.

    Trigram-indexing a body costs ~0.2–1 ms (FTS5 or pg_trgm), about as much as storing the
    delivery, so the receiver does not: the index follows a few seconds behind, and search
    tests the events it has not reached row by row. Small batches hold SQLite's write lock a few
    tens of ms. While deliveries are arriving it sits out (`console.background.Courtesy`: up to
    30 s, then smaller batches with a pause after each), so acknowledgements do not queue
    behind the index; it catches up once the burst is over (~4,000 events a second).
    """

    thread_name = "search-indexer"

    def __init__(
        self,
        store: EventStore,
        *,
        batch: int = 100,
        busy_batch: int = 25,
        idle_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.batch = batch
        self.busy_batch = busy_batch
        self.idle_seconds = idle_seconds
        super().__init__()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._sitting_out():
                continue
            limit = self.busy_batch if ingest_busy() else self.batch
            started = monotonic()
            added = 0
            try:
                added = self.store.index_search_text(limit=limit)
            except StoreUnavailable as exc:
                log.warning("text index: the store is unavailable (%s); retrying", exc)
            except Exception:  # the indexer must outlive anything
                log.exception("text index: unexpected failure; retrying")
            if added >= limit:  # behind: a short pause (longer while deliveries arrive)
                pause = max(0.02, yield_seconds(monotonic() - started))
            else:  # caught up: idle
                self.courtesy.caught_up()
                pause = self.idle_seconds
            self._stop.wait(pause)


_indexers: dict[str, SearchIndexer] = {}
_indexers_lock = threading.Lock()


def ensure_search_indexer(store: EventStore) -> SearchIndexer:
    """The store's `SearchIndexer`, started once per process."""
    with _indexers_lock:
        indexer = _indexers.get(store.url)
        if indexer is None:
            indexer = _indexers[store.url] = SearchIndexer(store)
        return indexer.start()


def _stored_row(row: Any) -> StoredEvent:
    return _stored({k: v for k, v in row.items() if k != "row_id"})


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
