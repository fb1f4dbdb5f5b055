"""The durable store of webhook events, rejected deliveries and dead letters.

SQLAlchemy Core over SQLite (WAL; the default, a file under `data/`) or PostgreSQL
(`DATABASE_URL`). The schema is created and migrated on first use. Every event keeps its raw body
beside extracted, indexed columns for filtering. "Current state" is always derived by Lean's
timestamp, never by arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import hashlib
import io
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    create_engine,
    event,
    exists,
    func,
    inspect,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.schema import CreateIndex

from console.background import note_ingest
from console.formatting import csv_cell
from lean_api.webhooks import WebhookEvent, same_body

log = logging.getLogger(__name__)
_T = TypeVar("_T")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'data' / 'console.db'}"
SCHEMA_VERSION = 12

metadata = MetaData()
_id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys

events = Table(
    "webhook_events",
    metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("event_id", String(200), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("message", Text),
    Column("lean_timestamp", DateTime(timezone=True)),
    # Lean's timestamps carry nanoseconds; datetimes stop at the microsecond, so the rest is
    # kept here and ordering by Lean's clock uses both.
    Column("lean_timestamp_ns", Integer, nullable=False, server_default=text("0")),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("last_received_at", DateTime(timezone=True), nullable=False),
    Column("delivery_count", Integer, nullable=False, server_default=text("1")),
    Column("verified", Boolean, nullable=False),
    Column("source_ip", String(64)),
    Column("customer_id", String(64)),
    Column("entity_id", String(64)),
    Column("app_user_id", String(256)),
    Column("bank_identifier", String(64)),
    Column("refresh_id", String(64)),
    Column("status", String(64)),
    Column("size", Integer, nullable=False),
    Column("payload", Text, nullable=False),
)
# PostgreSQL advisory lock of the text indexer (one batch at a time across processes). Its own:
# it shared the book index's key (console.book.BOOK_WRITE_LOCK), so a book write made the text
# indexer skip its turn and a text batch made the book writers wait.
SEARCH_INDEX_LOCK = 7320153
# A capped count of a bank's events (the inbox's total) is read on PostgreSQL with the bank's
# connections as an array, when it has at most this many: PostgreSQL then reads their index
# ranges in one bitmap with the bank's own events, where `IN (subquery)` made it read a week of
# every bank's FINISHED refreshes by status and time (109,000 index entries, 5,900 pages, for a
# count capped at 250; now 2,300 pages). Each row read is compared with the array one element
# at a time, so a bank with tens of thousands of connections keeps `IN` (30,000: 2.4 s against
# 0.06 s). The page finds its newest few sooner along an ordered index, with `IN`.
BANK_ARRAY_ENTITIES = 2000
# When an event happened: Lean's timestamp, or arrival when Lean gave none. The inbox sorts by it
# and its time windows bound it, so it is indexed as this very expression (schema 8).
OCCURRED = func.coalesce(events.c.lean_timestamp, events.c.received_at)
OCCURRED_INDEX = "ix_webhook_events_occurred"
Index(OCCURRED_INDEX, OCCURRED, events.c.id)
# Each filter of the inbox, then its order (schema 8): one seek finds a page of a customer's or a
# type's events newest first, and the same index answers the plain lookups (by refresh, entity…)
# the single-column ones did. `verified` is here for "unverified only", rare and otherwise a scan.
SORTED_FILTERS = (
    "type",
    "customer_id",
    "entity_id",
    "app_user_id",
    "bank_identifier",
    "refresh_id",
    "status",
    "verified",
)
for _column in SORTED_FILTERS:
    Index(f"ix_webhook_events_{_column}_occurred", events.c[_column], OCCURRED, events.c.id)
# The first arrival ever (triage's "listening since") reads min(received_at).
Index("ix_webhook_events_received_at", events.c.received_at)
# The newest bank availability event (the customer view's watermark,
# `console.customer_view.newest_bank_event`) in one seek (schema 12): the type's own index is in
# time order, so its newest id was a scan of every bank event (12 ms at 50,000). Only bank events
# are in it, so a delivery of any other costs nothing more. A query uses it only with the type
# written out, as here, not as a parameter.
BANK_EVENT_TYPE = "bank.availability.updated"
IS_BANK_EVENT = events.c.type == literal_column(f"'{BANK_EVENT_TYPE}'")
BANK_NEWEST_INDEX = "ix_webhook_events_bank_newest"
Index(
    BANK_NEWEST_INDEX,
    events.c.id,
    sqlite_where=IS_BANK_EVENT,
    postgresql_where=IS_BANK_EVENT,
)
# Single-column indexes of schema 1 that schema 8 replaces by the ones above; lean_timestamp alone
# was read by no query (every order by Lean's clock follows an equality on refresh, entity or bank).
REPLACED_EVENT_INDEXES = tuple(
    f"ix_webhook_events_{name}"
    for name in (*(c for c in SORTED_FILTERS if c != "verified"), "lean_timestamp")
)
# Free-text search (schema 8). SQLite: an FTS5 table with the trigram tokenizer over the event's
# own columns (external content, kept in step by triggers); PostgreSQL: a pg_trgm GIN index over
# this expression (lower-cased since schema 10), which serves LIKE '%text%' itself. The
# separator is a control character the search box refuses, so a match never spans two columns.
EVENTS_FTS = "webhook_events_fts"
EVENTS_SEARCH = "webhook_events_search"  # PostgreSQL: (id, lower(SEARCH_TEXT)), a pg_trgm index
# PostgreSQL (schema 9): the index's table also keeps when each event occurred, so a search's
# matches come out of the index with their place in the inbox's order; rows indexed before
# schema 9 have none until the indexer's batches fill it in (read from the event meanwhile).
SEARCH_OCCURRED = (
    "coalesce(occurred, (SELECT coalesce(e.lean_timestamp, e.received_at) FROM webhook_events e "
    "WHERE e.id = {table}.id))"
)
# PostgreSQL commits rows out of id order: the batches leave events this young for later.
SEARCH_SETTLE_SECONDS = 15
SEARCH_CURSOR = "search_indexed_through"  # console_meta: the highest row id the FTS table holds
# PostgreSQL (schema 10): the index's table keeps each text lower-cased (a trigger lowers every
# row inserted), so a search tests `doc LIKE lower(needle)`, exactly `ILIKE`, without lowering
# 23,000 texts per search (0.18 → 0.06 s); and each event's type and status (neither ever
# changes), so a search with those filters tests them on the rows the index names without
# reading each one's event. Rows indexed before schema 10, up to this row id, may still hold
# their text in its own case (`ILIKE` for them) and no type or status, until the indexer's
# batches complete them.
SEARCH_EARLY = "search_early_through"
EARLY_UNKNOWN = 2**62  # `SEARCH_EARLY` not read yet: every row is tested as an early one
SEARCH_ANALYZE_PAGES = 1000  # PostgreSQL: the text index's growth (8 KB pages) worth an ANALYZE
INDEXED_THROUGH = (
    "(SELECT coalesce(max(CAST(value AS INTEGER)), 0) FROM console_meta "
    f"WHERE key = '{SEARCH_CURSOR}')"
)
SEARCH_TEXT = events.c.type + func.chr(10) + events.c.event_id + func.chr(10) + events.c.payload

rejections = Table(
    "webhook_rejections",
    metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("source_ip", String(64)),
    Column("status_code", Integer, nullable=False),
    Column("reason", String(300), nullable=False),
    Column("size", Integer, nullable=False),
    Column("signature", String(300)),
    # What a refused body said it was (schema 6), unverified: lets triage show "a delivery
    # claiming to be this customer's entity.created was refused". Never trusted, never the body.
    Column("claimed_type", String(100)),
    Column("claimed_event_id", String(200)),
    Column("claimed_customer_id", String(64), index=True),
    Column("claimed_entity_id", String(64), index=True),
)

# How many deliveries were refused, per minute, reason and source address (schema 7): exact,
# while `webhook_rejections` keeps only a sample of them (the receiver's rejection log keeps the
# first few of each reason and source a minute, and the first per claimed customer), so an
# unsigned flood is counted, not written row by row forever.
rejection_counts = Table(
    "webhook_rejection_counts",
    metadata,
    Column("minute", DateTime(timezone=True), primary_key=True),
    Column("reason", String(300), primary_key=True),
    Column("source_ip", String(64), primary_key=True),  # "" when not known
    Column("status_code", Integer, nullable=False),
    Column("refused", BigInteger, nullable=False),  # every refused delivery of the bucket
    Column("kept", BigInteger, nullable=False),  # those with a row in webhook_rejections
)

dead_letters = Table(
    "webhook_dead_letters",
    metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("source_ip", String(64)),
    Column("reason", String(300), nullable=False),
    Column("verified", Boolean, nullable=False),
    Column("size", Integer, nullable=False),
    Column("body", Text, nullable=False),
    # A redelivered unreadable body is counted, not kept again (schema 2).
    Column("body_digest", String(80)),
    Column("delivery_count", Integer, nullable=False, server_default=text("1")),
    Column("last_received_at", DateTime(timezone=True)),
    # Reprocessing from the screen once the cause is fixed (schema 6): when, and what came of it.
    Column("reprocessed_at", DateTime(timezone=True)),
    Column("reprocess_outcome", String(300)),
)

Index("uq_webhook_dead_letters_body_digest", dead_letters.c.body_digest, unique=True)

meta = Table(
    "console_meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

# The book index (schema 3): customers, their entities and consents as webhooks and the sync last
# saw them, so book-wide questions cost no Lean call per customer. Rows follow Lean's timestamps:
# an older update never overwrites a newer one.
index_customers = Table(
    "index_customers",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("app_user_id", String(256), index=True),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    # Lean's timestamp of the latest event about this customer.
    Column("updated_at", DateTime(timezone=True)),
)

index_entities = Table(
    "index_entities",
    metadata,
    Column("entity_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False, index=True),
    Column("bank_identifier", String(64), index=True),
    Column("bank_name", String(200)),
    Column("status", String(64)),
    Column("permissions", Text),  # JSON list of the permissions granted on the entity
    Column("created_at", DateTime(timezone=True)),
    # Lean's timestamp (entity.updated_at, or the webhook's) of the state kept here, at full
    # precision: older updates are refused.
    Column("updated_at", DateTime(timezone=True)),
    Column("updated_at_ns", Integer, nullable=False, server_default=text("0")),
    # The current consent (the newest by creation), kept beside the entity for the queue filters.
    Column("consent_id", String(64)),
    Column("consent_status", String(64), index=True),
    Column("consent_expires_at", DateTime(timezone=True), index=True),
    # When Lean last said the consents changed (entity.updated), and when the sync last read them.
    Column("consent_changed_at", DateTime(timezone=True)),
    Column("synced_at", DateTime(timezone=True)),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)

index_consents = Table(
    "index_consents",
    metadata,
    Column("entity_id", String(64), primary_key=True),
    Column("consent_id", String(64), primary_key=True),
    Column("bank_consent_id", String(200)),
    Column("status", String(64)),
    Column("created_at", DateTime(timezone=True)),
    Column("status_updated_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True), index=True),
    Column("transactions_from", DateTime(timezone=True)),
    Column("transactions_to", DateTime(timezone=True)),
    Column("permissions", Text),  # JSON list of the permissions granted by this consent
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)

index_sync_runs = Table(
    "index_sync_runs",
    metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    # running · done · failed (a failed or interrupted run resumes from `cursor`)
    Column("status", String(20), nullable=False),
    Column("phase", String(20), nullable=False),
    Column("cursor", Text, nullable=False),  # JSON: where the next page starts
    Column("customers_seen", Integer, nullable=False, server_default=text("0")),
    Column("entities_seen", Integer, nullable=False, server_default=text("0")),
    Column("pages", Integer, nullable=False, server_default=text("0")),
    Column("rate_limit_waits", Integer, nullable=False, server_default=text("0")),
    Column("message", String(300)),
)
INDEX_TABLES = (index_customers, index_entities, index_consents, index_sync_runs)

# The refresh index (schema 4): each refresh as its latest `entity.data.refresh.updated` left it
# (by Lean's timestamp), one row per account × data type of that state, and a daily rollup per
# bank × data type kept by the same indexer, so fleet questions never parse a body.
REFRESH_OUTCOMES = ("success", "partial", "failed", "pending", "unknown")
CELL_OUTCOMES = ("success", "partial", "failed", "pending", "unsupported", "unknown")
ALL_DATA_TYPES = "all"  # the rollup's row for the refresh as a whole (its worst data type)
NO_BANK = ""  # the rollup's bank for refreshes whose entity the book index does not know yet

index_refreshes = Table(
    "index_refreshes",
    metadata,
    Column("refresh_id", String(64), primary_key=True),
    Column("entity_id", String(64), index=True),
    Column("customer_id", String(64)),
    Column("bank_identifier", String(64)),
    Column("status", String(64)),  # Lean's word, as sent (FINISHED, OK, PENDING, …)
    Column("outcome", String(16), nullable=False),  # one of REFRESH_OUTCOMES
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("finished_day", Date),
    Column("duration_seconds", Float),
    Column("accounts", Integer, nullable=False, server_default=text("0")),
    Column("failed_cells", Integer, nullable=False, server_default=text("0")),
    Column("partial_cells", Integer, nullable=False, server_default=text("0")),
    # JSON {data type: outcome}: what this refresh added to the daily rollup, to take back out
    # when a newer state replaces it.
    Column("type_outcomes", Text, nullable=False, server_default=text("'{}'")),
    Column("last_event_id", String(200)),
    Column("last_timestamp", DateTime(timezone=True)),
    Column("last_timestamp_ns", Integer, nullable=False, server_default=text("0")),
    Column("indexed_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_index_refreshes_bank_finished",
    index_refreshes.c.bank_identifier,
    index_refreshes.c.finished_at,
)
Index("ix_index_refreshes_finished_at", index_refreshes.c.finished_at)
Index("ix_index_refreshes_duration", index_refreshes.c.duration_seconds)

index_refresh_cells = Table(
    "index_refresh_cells",
    metadata,
    Column("refresh_id", String(64), primary_key=True),
    Column("account_id", String(64), primary_key=True),
    Column("data_type", String(32), primary_key=True),
    Column("status", String(64)),  # normalised: SUCCESS (Lean's OK too), PARTIAL, … or as sent
    Column("raw_status", String(64)),  # Lean's word, as sent
    Column("finished_at", DateTime(timezone=True)),
    Column("finished_day", Date),
)
# "Which accounts' transactions are repeatedly partial": candidates by status, then their last
# refreshes by account.
Index(
    "ix_index_refresh_cells_type_status",
    index_refresh_cells.c.data_type,
    index_refresh_cells.c.status,
    index_refresh_cells.c.finished_at,
    index_refresh_cells.c.account_id,
)
Index(
    "ix_index_refresh_cells_account",
    index_refresh_cells.c.account_id,
    index_refresh_cells.c.data_type,
    index_refresh_cells.c.finished_at,
    index_refresh_cells.c.status,
)

index_refresh_daily = Table(
    "index_refresh_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("bank_identifier", String(64), primary_key=True),  # NO_BANK when not known
    Column("data_type", String(32), primary_key=True),  # or ALL_DATA_TYPES
    Column("refreshes", Integer, nullable=False, server_default=text("0")),
    *(
        Column(outcome, Integer, nullable=False, server_default=text("0"))
        for outcome in CELL_OUTCOMES
    ),
)
REFRESH_INDEX_TABLES = (index_refreshes, index_refresh_cells, index_refresh_daily)

# The audit log (schema 5): who looked at which customer or connection and every action, with
# its outcome. Append-only: the console has no code that changes or removes a row, and the
# database refuses to (triggers), so a bug or a crafted request cannot rewrite history.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(256), nullable=False, index=True),
    Column("role", String(20), nullable=False),
    Column("how", String(20), nullable=False),  # oidc · proxy · local
    Column("action", String(50), nullable=False, index=True),
    Column("subject_kind", String(50)),
    Column("subject", String(256), index=True),
    Column("outcome", String(20), nullable=False),  # ok · denied · failed
    Column("detail", String(500)),
    Column("reason", String(500)),
)


# The request log (schema 6): every call the console made to Lean, so support can see the calls
# behind a screen and triage can put them on a customer's timeline. Ids are taken from the path
# (and the body of the few POSTs that carry them); no personal data is kept.
lean_calls = Table(
    "lean_calls",
    metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("method", String(10), nullable=False),
    Column("endpoint", String(300), nullable=False),  # the path as sent, ids included
    Column("route", String(200), nullable=False, index=True),  # the path with ids as {names}
    Column("status", Integer, index=True),  # None: no answer (timeout, connection refused)
    Column("outcome", String(40), nullable=False, index=True),
    Column("lean_code", String(100)),
    Column("results_id", String(100)),
    Column("latency_ms", Integer, nullable=False),
    Column("retries", Integer, nullable=False, server_default=text("0")),
    Column("screen", String(100), index=True),
    Column("actor", String(256)),
    Column("customer_id", String(64), index=True),
    Column("entity_id", String(64), index=True),
    Column("refresh_id", String(64)),
    Column("message", String(300)),
)


CLAIM_COLUMNS = ("claimed_type", "claimed_event_id", "claimed_customer_id", "claimed_entity_id")


@dataclass(frozen=True)
class RejectionBucket:
    """Refused deliveries counted together: one minute (UTC), one reason, one source."""

    minute: datetime
    reason: str
    source_ip: str | None
    status_code: int

    @classmethod
    def of(cls, rejection: Mapping[str, Any]) -> RejectionBucket:
        """The bucket a refused delivery (as the rejection log holds it) is counted in."""
        minute = rejection["received_at"].replace(second=0, microsecond=0)
        return cls(
            minute, rejection["reason"], rejection.get("source_ip"), rejection["status_code"]
        )


def _minute(value: datetime | None) -> datetime:
    """`value` (naive UTC) cut to its minute."""
    return (value or datetime.now(UTC).replace(tzinfo=None)).replace(second=0, microsecond=0)


# What the screens read of an event (everything but the surrogate key), and when it happened:
# Lean's timestamp, or arrival when Lean gave none.
EVENT_COLUMNS = [c for c in events.c if c.name != "id"]
# The inbox reads each event with its entity's bank from the book index (refresh events carry none).
EVENTS_WITH_BANK = events.outerjoin(
    index_entities, events.c.entity_id == index_entities.c.entity_id
)
ENTITY_BANK = index_entities.c.bank_identifier.label("entity_bank")
# "Current state" is the latest event by Lean's clock at full precision; an event without a
# timestamp never overrides one with, and arrival order only breaks exact ties.
CURRENT_STATE_ORDER = (
    events.c.lean_timestamp.is_(None).asc(),
    events.c.lean_timestamp.desc(),
    events.c.lean_timestamp_ns.desc(),
    events.c.id.desc(),
)


class StoreUnavailable(Exception):
    """The database could not take the write (down, locked, full); the caller should retry."""


class StoreRejected(Exception):
    """The database refused this record for what it contains; retrying cannot help."""


class DifferentBody(StoreRejected):
    """A delivery of a stored event with another body (`upsert_event`): the first body stays."""


# A dead letter's `reprocess_outcome` starts with it when the letter can never become an event:
# the event is stored with another body (`console.dead_letters` shows it as done).
KEPT_APART = "kept apart"
KEPT_APART_OUTCOME = (
    f"{KEPT_APART}: the event keeps the body it first came with; this other body stays here"
)


def different_body_reason(event_id: str) -> str:
    """The dead letter's reason for a repeated event_id whose body differs from the stored one
    (also how the event's page finds its other bodies)."""
    shown = fit(event_id, 120)
    # The event first: the dead letters' table shows little more than the start of a reason.
    return f"event {shown} came again with another body; the first body is kept"


# Failures of the database itself (down, locked, out of connections): worth retrying.
# Everything else a statement raises is about the record it carried.
_TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


@dataclass(frozen=True, kw_only=True)
class EventRecord:
    """One delivery to store."""

    event_id: str
    type: str
    message: str | None
    lean_timestamp: datetime | None
    received_at: datetime
    verified: bool
    source_ip: str | None
    payload: str = field(repr=False)
    size: int
    lean_timestamp_ns: int = 0
    customer_id: str | None = None
    entity_id: str | None = None
    app_user_id: str | None = None
    bank_identifier: str | None = None
    refresh_id: str | None = None
    status: str | None = None

    @classmethod
    def of(
        cls,
        event: WebhookEvent,
        body: bytes,
        *,
        received_at: datetime,
        verified: bool,
        source_ip: str | None,
    ) -> EventRecord:
        """A parsed delivery as it is stored: the body's bytes (UTF-8, as `parse_event`
        checked) and the identifiers the screens filter by."""
        return cls(
            event_id=event.event_id,
            type=event.type,
            message=event.message,
            lean_timestamp=event.timestamp,
            lean_timestamp_ns=event.timestamp_nanos,
            received_at=received_at,
            verified=verified,
            source_ip=source_ip,
            payload=body.decode("utf-8"),
            size=len(body),
            **event.index_fields(),
        )


@dataclass(frozen=True)
class WriteResult:
    """What the store did with a delivery."""

    event_id: str
    delivery_count: int
    # Set when the database refused the event for its content and it was kept as a dead letter.
    dead_letter_reason: str | None = None
    # A repeat whose body differs from the stored event's: the event keeps its first body, this
    # one is kept as a dead letter (`different_body_reason`), and the delivery is counted.
    different_body: bool = False

    @property
    def duplicate(self) -> bool:
        """True when the event had been stored before."""
        return self.delivery_count > 1 and self.dead_letter_reason is None


@dataclass(frozen=True)
class EventFilter:
    """What the inbox is narrowed to."""

    types: tuple[str, ...] = ()
    customer_id: str | None = None
    entity_id: str | None = None
    app_user_id: str | None = None
    bank_identifier: str | None = None
    refresh_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None


@dataclass(frozen=True, kw_only=True)
class StoredEvent(EventRecord):
    """An event as the screens read it: the first delivery, plus what later deliveries added."""

    last_received_at: datetime
    delivery_count: int
    # The bank of the event's entity as the book index knows it: refresh events name no bank.
    entity_bank: str | None = None

    @property
    def bank(self) -> str | None:
        """The bank the event carried, else its entity's bank from the book index."""
        return self.bank_identifier or self.entity_bank

    @property
    def occurred_at(self) -> datetime:
        """When it happened by Lean's clock, else when it first arrived."""
        return self.lean_timestamp or self.received_at


def _aware(value: datetime | None) -> datetime | None:
    """`value` in UTC, time zone attached (the stores give naive UTC or an aware time)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def without_jit(conn: Connection) -> None:
    """PostgreSQL: no JIT compiling for this transaction's statements. A capped count whose plan
    the planner costs high (a bitmap over a week of FINISHED refreshes) spent 100 of its 170 ms
    compiling, for a statement that then reads a few thousand rows."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL jit = off"))


def _utc_naive(value: datetime | None) -> datetime | None:
    # SQLite has no time zones: everything is stored as naive UTC, on both backends alike.
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def occurred_between(since: datetime | None, until: datetime | None) -> list[Any]:
    """Conditions on when an event occurred: at or after `since`, before `until` (either may be
    None): ranges of the occurred index."""
    bounds = []
    if since:
        bounds.append(_utc_naive(since) <= OCCURRED)
    if until:
        bounds.append(_utc_naive(until) > OCCURRED)
    return bounds


def clean_text(value: str | None) -> str | None:
    """Text any database takes: lone surrogates and NUL (PostgreSQL refuses both) become U+FFFD."""
    if value is None or (value.isascii() and "\x00" not in value):
        return value
    return _UNSTORABLE.sub("\ufffd", value)


def fit(value: str | None, length: int | None) -> str | None:
    """`value` cleaned and cut to a column's length (with an ellipsis when cut)."""
    value = clean_text(value)
    if value is None or length is None or len(value) <= length:
        return value
    return value[: length - 1] + "…"


def fit_event_id(event_id: str, length: int = 200) -> str:
    """An event_id that fits its column and stays unique.

    A long id, or one that cleaning changed (lone surrogates, NUL), keeps a digest of the
    original, so two different ids never become one event.
    """
    cleaned = clean_text(event_id) or ""
    if len(cleaned) <= length and cleaned == event_id:
        return cleaned
    original = event_id.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(original).hexdigest()[:32]
    return f"{cleaned[: length - 40]}…sha256:{digest}"


def _fit_row(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """Every text value cleaned and fitted to its column, so a record can only fail for the
    database's sake, never for what it contains."""
    columns = _column_lengths(table)
    fitted = {}
    for name, value in values.items():
        length = columns[name]  # KeyError: not a column of `table`
        if isinstance(value, str) and length != _NOT_TEXT:
            value = fit(value, length)
        fitted[name] = value
    return fitted


_NOT_TEXT = -1


@functools.cache
def _column_lengths(table: Table) -> dict[str, int | None]:
    """Each column of `table`: its text length (None: unbounded), or `_NOT_TEXT`."""
    return {
        column.name: getattr(column.type, "length", None)
        if isinstance(column.type, String | Text)
        else _NOT_TEXT
        for column in table.c
    }


MAX_INT32 = 2**31 - 1
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _PreparedUpsert:
    """A statement compiled once, run with plain parameters on the driver's own cursor.

    Values go through the column types' bind processors, as SQLAlchemy would pass them; driver
    errors are mapped as `EventStore._connection` maps SQLAlchemy's (a database failure is
    `StoreUnavailable`, a refused value `StoreRejected`).
    """

    def __init__(
        self,
        sql: str,
        names: tuple[str, ...] | None,
        defaults: dict[str, Any],
        processors: dict[str, Callable[[Any], Any]],
    ) -> None:
        self.sql = sql
        self.names = names  # positional drivers (SQLite): parameter order; None: named
        self.defaults = defaults
        self.processors = processors

    @classmethod
    def compile(cls, statement: Any, dialect: Any) -> _PreparedUpsert:
        """Compile `statement` (its parameters `bindparam`s carrying column types) for `dialect`."""
        compiled = statement.compile(dialect=dialect)
        processors = {}
        for bind in compiled.binds.values():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[bind.key] = process
        names = tuple(compiled.positiontup) if compiled.positional else None
        defaults = {key: value for key, value in compiled.params.items() if value is not None}
        return cls(str(compiled), names, defaults, processors)

    def run(self, conn: Connection, values: dict[str, Any]) -> Any:
        """Execute with `values` in `conn`'s transaction; the first column of the returned row."""
        merged = {**self.defaults, **values}
        for key, process in self.processors.items():
            if key in merged:
                merged[key] = process(merged[key])
        parameters = tuple(merged.get(name) for name in self.names) if self.names else merged
        return _on_driver_cursor(conn, self.sql, parameters)[0][0]


def _on_driver_cursor(conn: Connection, sql: str, parameters: Any) -> list[Any]:
    """Run compiled `sql` on the driver's own cursor in `conn`'s transaction; every returned row.

    Driver errors are mapped as `EventStore._connection` maps SQLAlchemy's: the database failing
    is `StoreUnavailable`, a value it refuses is `StoreRejected`.
    """
    dbapi = conn.dialect.dbapi
    try:
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, parameters)
            return list(cursor.fetchall())
        finally:
            cursor.close()
    except (dbapi.OperationalError, dbapi.InterfaceError) as exc:
        raise StoreUnavailable(_first_line(exc)) from exc
    except dbapi.Error as exc:
        raise StoreRejected(_first_line(exc)) from exc
    except (ValueError, TypeError, OverflowError) as exc:
        raise StoreRejected(f"{type(exc).__name__}: {exc}") from exc


# Rows per multi-row INSERT: statements are compiled for powers of two up to this (9 shapes),
# 256 × 18 parameters staying far under SQLite's and PostgreSQL's limits.
MAX_ROWS_PER_STATEMENT = 256


def _power_of_two_parts(count: int) -> Iterator[tuple[int, int]]:
    """(start, size) slices of `count` items, each size a power of two ≤ MAX_ROWS_PER_STATEMENT."""
    start = 0
    while start < count:
        size = min(1 << ((count - start).bit_length() - 1), MAX_ROWS_PER_STATEMENT)
        yield start, size
        start += size


class _BatchUpsert:
    """The events upsert for a fixed number of rows, compiled once, run with positional
    parameters on the driver's own cursor; returns (delivery_count, event_id) per row.

    Rows come as tuples of database-ready values in `columns` order (see
    `EventStore._event_values`); driver errors are mapped by `_on_driver_cursor`.
    """

    def __init__(self, sql: str, tail: tuple[Any, ...], *, columnar: bool = False) -> None:
        self.sql = sql
        self.tail = tail  # the statement's own parameters (the `+ 1` of the count), after the rows
        # Columnar (PostgreSQL): one array per column, any number of rows (`unnest`).
        self.columnar = columnar

    @classmethod
    def compile(
        cls,
        statement: Any,
        dialect: Any,
        columns: Sequence[str],
        size: int,
        *,
        columnar: bool = False,
    ) -> _BatchUpsert:
        """Compile `statement` (rows of `bindparam("<column>__<row>")`; columnar: one
        `bindparam("<column>__0")` per column) for a positional `dialect`."""
        compiled = statement.compile(dialect=dialect)
        names = list(compiled.positiontup or ())
        rows = [f"{name}__{index}" for index in range(size) for name in columns]
        if names[: len(rows)] != rows:
            raise RuntimeError("the batch upsert's parameters are not in row order")
        tail = tuple(compiled.params[name] for name in names[len(rows) :])
        return cls(str(compiled), tail, columnar=columnar)

    def run(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Execute in `conn`'s transaction; every returned row."""
        if self.columnar:
            parameters = [list(column) for column in zip(*rows, strict=True)]
        else:
            parameters = [value for row in rows for value in row]
        parameters.extend(self.tail)
        return _on_driver_cursor(conn, self.sql, parameters)


@contextmanager
def _store_errors() -> Iterator[None]:
    """Failures of the database become `StoreUnavailable` (retry later); a statement refused for
    its content becomes `StoreRejected` (retrying cannot help)."""
    try:
        yield
    except (StoreUnavailable, StoreRejected):
        raise
    except _TRANSIENT as exc:
        raise StoreUnavailable(_first_line(exc)) from exc
    except SQLAlchemyError as exc:
        raise StoreRejected(_first_line(exc)) from exc
    except (ValueError, TypeError, OverflowError) as exc:
        # Raised by the driver while binding a value (encoding, integer range).
        raise StoreRejected(f"{type(exc).__name__}: {exc}") from exc


class HeldConnection:
    """One connection the event writer keeps between its batches while deliveries keep coming
    (PostgreSQL), released when they stop (`release`).

    Taken from the pool for each batch, a connection was first pinged (`pool_pre_ping`): a
    round trip, and each round trip under load is a wait for the database process to get a
    core. A held connection the database closed since the last batch (a restart, a fail-over,
    `idle_session_timeout`) is found dead at the batch's first statement, before anything was
    committed: the batch is then written once more on a fresh one, as the ping would have.
    """

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._conn: Connection | None = None

    def run(self, work: Callable[[Connection], _T]) -> _T:
        """`work(conn)` in one transaction on the held connection, committed on success; errors
        mapped as the store's own (`StoreUnavailable`, `StoreRejected`)."""
        for attempt in (1, 2):
            reused = self._conn is not None
            committing = False
            try:
                with _store_errors():
                    if self._conn is None:
                        self._conn = self.store.engine.connect()
                    with self._conn.begin():
                        result = work(self._conn)
                        committing = True  # what fails from here on may have committed
                    return result
            except StoreUnavailable:
                dead = self._dead()
                self.release()
                if attempt == 1 and reused and dead and not committing:
                    log.info("event writer: the database closed the held connection; again")
                    continue
                raise
        raise AssertionError("unreachable")

    def _dead(self) -> bool:
        """The connection is gone: SQLAlchemy saw a disconnect (and invalidated it), or the
        driver knows it broke. Asked before `.connection`, which would reconnect."""
        conn = self._conn
        if conn is None or conn.invalidated:
            return conn is not None
        driver = conn.connection.dbapi_connection
        return bool(getattr(driver, "broken", False) or getattr(driver, "closed", False))

    def release(self) -> None:
        """Give the connection back to the pool (a broken one is discarded)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # a connection that broke cannot be closed cleanly
                log.debug("event writer: held connection not closed cleanly: %s", exc)


def _unsized(type_: Any) -> Any:
    """A column's type without its length (VARCHAR(64) → VARCHAR)."""
    return String() if isinstance(type_, String) and not isinstance(type_, Text) else type_


def _sqlite_datetime(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME text for a naive UTC datetime, without its format string."""
    return None if value is None else value.isoformat(" ", "microseconds")


def _column_processors(dialect: Any, columns: Sequence[str]) -> list[Callable[[Any], Any] | None]:
    """Each column's bind processor for `dialect` (None: the value goes as it is).

    SQLite's DATETIME processor is replaced by `_sqlite_datetime` where both agree (checked
    here): it was a tenth of the writer's Python time.
    """
    samples = (datetime(2026, 11, 28, 10, 0, 0, 123456), datetime(5, 1, 1), None)
    processors: list[Callable[[Any], Any] | None] = []
    for name in columns:
        process = events.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if (
            process is not None
            and dialect.name == "sqlite"
            and isinstance(events.c[name].type, DateTime)
            and all(process(sample) == _sqlite_datetime(sample) for sample in samples)
        ):
            process = _sqlite_datetime
        processors.append(process)
    return processors


class TextCandidates(list[int]):
    """Row ids the text index named for a search, and how far the index reached when asked:
    rows after `indexed_through` were not in it then, so they are tested row by row (a batch
    the indexer commits later must not take them out of that tail unnamed).

    `exact`: the index tested the very text a row is searched in with the very pattern
    (PostgreSQL: `ILIKE`'s own test, `lower(SEARCH_TEXT) LIKE lower(needle)`, and an event's
    type, id and body never change), so the named rows match and are not tested again; SQLite's
    trigrams only say every trigram is present, in any order, so each named row is tested."""

    def __init__(
        self,
        ids: Iterable[int],
        indexed_through: int,
        *,
        exact: bool = False,
        occurred: Sequence[datetime] | None = None,
        among: bool = False,
    ) -> None:
        super().__init__(ids)
        self.indexed_through = indexed_through
        self.exact = exact
        # PostgreSQL: when each named event occurred, in the same order (`SEARCH_OCCURRED`).
        self.occurred = occurred
        # Only the named events that met the caller's other conditions, and are still stored.
        self.among = among


class EventStore:
    """Reads and writes events; one instance per database, safe to share between threads."""

    def __init__(
        self,
        url: str | None = None,
        *,
        busy_timeout_ms: int = 5000,
        lock_timeout_ms: int | None = None,
    ) -> None:
        self.url = url or DEFAULT_DATABASE_URL
        if self.url.startswith("postgresql://"):
            self.url = "postgresql+psycopg://" + self.url.removeprefix("postgresql://")
        try:
            self.engine: Engine = _create_engine(self.url, busy_timeout_ms, lock_timeout_ms)
        except (SQLAlchemyError, ValueError, ImportError):
            # Never echo the URL: it may carry a password.
            raise StoreUnavailable(
                "DATABASE_URL is not a database URL the console can use: expected "
                "sqlite:///path.db or postgresql://user:password@host/db"
            ) from None
        self.dialect = self.engine.dialect.name
        database = self.engine.url.database if self.dialect == "sqlite" else None
        self._sqlite_path = Path(database) if database and database != ":memory:" else None
        self._migrated = False
        self._migrate_lock = threading.Lock()
        self._event_upsert: _PreparedUpsert | None = None
        # Multi-row upserts by row count (powers of two), for the writer's batches.
        self._batch_upserts: dict[int, _BatchUpsert] = {}
        self._event_columns = tuple(column.name for column in EVENT_COLUMNS)
        self._event_processors = _column_processors(self.engine.dialect, self._event_columns)
        self._event_text_lengths = tuple(
            (position, length)
            for position, name in enumerate(self._event_columns)
            if (length := _column_lengths(events)[name]) != _NOT_TEXT
        )
        self._has_text_index: bool | None = None
        # PostgreSQL: the text index's `SEARCH_EARLY` as last read (None: not yet).
        self._search_early: int | None = None

    def __repr__(self) -> str:
        return f"EventStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- schema ---------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest `MIGRATIONS` step (idempotent, safe to call
        often, and from several processes at once: see console/migrations)."""
        with self._migrate_lock:
            if self._migrated:
                return
            # Imported here: the revisions import this module.
            from console.migrations import upgrade

            try:
                upgrade(self.engine)
            except _TRANSIENT as exc:
                raise StoreUnavailable(_first_line(exc)) from exc
            except SQLAlchemyError as exc:
                raise StoreRejected(_first_line(exc)) from exc
            self._migrated = True

    def ping(self) -> None:
        """Raise `StoreUnavailable` unless the database answers."""
        self._reopen_if_file_vanished()
        with self._connection() as conn:
            conn.execute(select(literal(1)))

    def _reopen_if_file_vanished(self) -> None:
        """A SQLite file removed under open connections swallows every write that follows;
        reopen (and re-create) it instead, so an acknowledged event lands in a file that exists."""
        if self._sqlite_path is None or self._sqlite_path.exists():
            return
        log.error("the SQLite file %s disappeared; reopening it", self._sqlite_path)
        self.engine.dispose()
        with self._migrate_lock:
            self._migrated = False

    @contextmanager
    def _connection(self, *, write: bool = False) -> Iterator[Connection]:
        """A connection (in a committed transaction when `write`).

        Failures of the database become `StoreUnavailable` (retry later); a statement refused
        for its content becomes `StoreRejected` (retrying cannot help).
        """
        with _store_errors(), self.engine.begin() if write else self.engine.connect() as conn:
            yield conn

    def connect(self, *, write: bool = False) -> AbstractContextManager[Connection]:
        """A migrated connection for the store's other tables (the book index), with the same
        error mapping (`StoreUnavailable` / `StoreRejected`); `write` commits on success."""
        if self._migrated:
            self._reopen_if_file_vanished()
        self.migrate()
        return self._connection(write=write)

    # -- writes ---------------------------------------------------------------------------------

    def write_events(
        self, records: Sequence[EventRecord], *, held: HeldConnection | None = None
    ) -> list[WriteResult]:
        """Store deliveries in one transaction: new events inserted, repeats counted (on the
        writer's `held` connection when given)."""
        self._reopen_if_file_vanished()
        self.migrate()
        if held is not None:
            return held.run(lambda conn: self._upsert_many(conn, records))
        with self._connection(write=True) as conn:
            return self._upsert_many(conn, records)

    def _upsert_many(self, conn: Connection, records: Sequence[EventRecord]) -> list[WriteResult]:
        """Insert or count a batch of deliveries with a few multi-row statements: the writer's
        hot path (one statement per row cost a driver round trip and ~40% of the writer thread).

        Each statement holds an event once (PostgreSQL refuses to upsert one row twice in a
        statement): a repeat within the batch goes into a later round, so it is counted after
        the delivery before it, as it would be one by one.
        """
        rows = [self._event_values(record) for record in records]
        results: list[WriteResult | None] = [None] * len(rows)
        repeated: list[int] = []
        pending = list(range(len(rows)))
        while pending:
            seen: set[str] = set()
            this_round: list[int] = []
            later: list[int] = []
            for index in pending:
                key = rows[index][0]  # event_id, the first column
                (later if key in seen else this_round).append(index)
                seen.add(key)
            for start, size in self._statement_parts(len(this_round)):
                part = this_round[start : start + size]
                returned = self._batch_upsert(size).run(conn, [rows[index] for index in part])
                counts = {event_id: count for count, event_id in returned}
                for index in part:
                    event_id = rows[index][0]
                    count = int(counts[event_id])
                    results[index] = WriteResult(event_id, count)
                    if count > 1:
                        repeated.append(index)
            pending = later
        if repeated:
            self._keep_different_bodies(conn, records, rows, results, repeated)  # type: ignore[arg-type]
        return results  # type: ignore[return-value]

    def _keep_different_bodies(
        self,
        conn: Connection,
        records: Sequence[EventRecord],
        rows: Sequence[tuple[Any, ...]],
        results: list[WriteResult],
        repeated: Sequence[int],
    ) -> None:
        """Repeats of stored events whose body is not the stored one: the event keeps its first
        body (Lean's retries carry the same bytes), the other body is kept as a dead letter in
        the same transaction, and its result says so. Only repeats are read back, so a batch of
        new events costs nothing more."""
        position = self._event_columns.index("payload")
        wanted = sorted({rows[index][0] for index in repeated})
        stored = dict(
            conn.execute(
                select(events.c.event_id, events.c.payload).where(events.c.event_id.in_(wanted))
            ).all()
        )
        for index in repeated:
            event_id = rows[index][0]
            if same_body(stored.get(event_id, rows[index][position]), rows[index][position]):
                continue
            record = records[index]
            self._dead_letter_in(
                conn,
                source_ip=record.source_ip,
                reason=different_body_reason(event_id),
                verified=record.verified,
                body=record.payload.encode("utf-8", "surrogatepass"),
                received_at=record.received_at,
                outcome=KEPT_APART_OUTCOME,
            )
            results[index] = WriteResult(
                event_id, results[index].delivery_count, different_body=True
            )

    def _statement_parts(self, count: int) -> Iterable[tuple[int, int]]:
        """(start, size) of the statements `count` rows are written in: PostgreSQL takes any
        number in one (`unnest`); SQLite's VALUES lists are compiled per power of two."""
        if self.dialect == "postgresql":
            return [(0, count)] if count else []
        return _power_of_two_parts(count)

    def prepare_event_writes(self, max_rows: int) -> None:
        """Compile the upserts a batch of up to `max_rows` deliveries uses (SQLite: each power
        of two; PostgreSQL: the one statement every size shares), without touching the
        database."""
        size = 1
        while size <= min(max_rows, MAX_ROWS_PER_STATEMENT):
            self._batch_upsert(size)
            size *= 2

    def _batch_upsert(self, size: int) -> _BatchUpsert:
        """The multi-row upsert for `size` rows, compiled once per size (PostgreSQL: one for
        every size)."""
        columnar = self.dialect == "postgresql"
        key = 0 if columnar else size
        prepared = self._batch_upserts.get(key)
        if prepared is None:
            columns = self._event_columns
            key_column = events.c.event_id
            if columnar:
                # One array per column, unnested into rows: one statement and one round trip
                # for any batch, where VALUES lists took one per power of two. Arrays are cast
                # to the columns' types without their lengths, so an over-long value is refused
                # as it would be in VALUES, not cut short by the cast.
                arrays = [
                    cast(
                        bindparam(f"{name}__0"),
                        postgresql.ARRAY(_unsized(events.c[name].type)),
                    )
                    for name in columns
                ]
                rows = func.unnest(*arrays).table_valued(*columns).render_derived()
                insert = postgresql.insert(events).from_select(
                    list(columns), select(*(rows.c[name] for name in columns))
                )
                statement = self._count_repeats(insert, events, key_column)
            else:
                statement = self._insert_or_count(
                    events,
                    key_column,
                    [
                        {
                            name: bindparam(f"{name}__{index}", type_=events.c[name].type)
                            for name in columns
                        }
                        for index in range(size)
                    ],
                )
            dialect = self.engine.dialect
            if not dialect.positional:  # psycopg: the same dialect with `%s` parameters
                dialect = type(dialect)(paramstyle="format")
            prepared = _BatchUpsert.compile(
                statement, dialect, columns, 1 if columnar else size, columnar=columnar
            )
            self._batch_upserts[key] = prepared
        return prepared

    def _event_values(self, record: EventRecord) -> tuple[Any, ...]:
        """A delivery as its `webhook_events` row: database-ready values in column order,
        text cleaned and fitted to its column (as `_fit_row` does, with a fast path for the
        plain ASCII text of nearly every event)."""
        values = {**record.__dict__}
        values["event_id"] = fit_event_id(record.event_id)
        values["lean_timestamp"] = _utc_naive(record.lean_timestamp)
        values["received_at"] = values["last_received_at"] = _utc_naive(record.received_at)
        values["delivery_count"] = 1
        values["size"] = min(max(record.size, 0), MAX_INT32)
        values["lean_timestamp_ns"] = min(max(record.lean_timestamp_ns, 0), 999)
        row = [values[name] for name in self._event_columns]
        for position, length in self._event_text_lengths:
            value = row[position]
            if isinstance(value, str) and not (
                value.isascii() and "\x00" not in value and (length is None or len(value) <= length)
            ):
                row[position] = fit(value, length)
        for position, process in enumerate(self._event_processors):
            if process is not None:
                row[position] = process(row[position])
        return tuple(row)

    def upsert_event(self, conn: Connection, record: EventRecord) -> WriteResult:
        """Insert one delivery or count it on its event, in the caller's transaction (a dead
        letter reprocessed alongside its own bookkeeping).

        Raises `DifferentBody` (a `StoreRejected`) when the event is stored with another body:
        the caller's transaction must roll back, so the delivery is not counted again.

        The statement is `_insert_or_count`'s, compiled once per store and run on the driver's
        cursor: building and compiling it per row cost ~2 ms of the GIL (see the ingest profile).
        """
        values = _fit_row(events, {**record.__dict__})
        values["event_id"] = fit_event_id(record.event_id)
        values["lean_timestamp"] = _utc_naive(record.lean_timestamp)
        values["received_at"] = values["last_received_at"] = _utc_naive(record.received_at)
        values["delivery_count"] = 1
        values["size"] = min(max(record.size, 0), MAX_INT32)
        values["lean_timestamp_ns"] = min(max(record.lean_timestamp_ns, 0), 999)
        if self._event_upsert is None:
            self._event_upsert = _PreparedUpsert.compile(
                self._insert_or_count(
                    events,
                    events.c.event_id,
                    {name: bindparam(name, type_=events.c[name].type) for name in values},
                ),
                self.engine.dialect,
            )
        count = int(self._event_upsert.run(conn, values))
        if count > 1:
            stored = conn.execute(
                select(events.c.payload).where(events.c.event_id == values["event_id"])
            ).scalar()
            if stored is not None and not same_body(stored, values["payload"]):
                # Counting it would count a delivery twice (it was counted when it arrived).
                shown = fit(values["event_id"], 120)
                raise DifferentBody(
                    f"event {shown} is stored with another body; the first body is kept "
                    "and this one stays a dead letter"
                )
        return WriteResult(values["event_id"], count)

    def _insert_or_count(
        self, table: Table, key: Column[Any], values: dict[str, Any] | list[dict[str, Any]]
    ) -> Any:
        """INSERT, or on a repeated `key` count the delivery: one statement, safe under races.

        Returns each row's delivery count and key (`values` may hold several rows). A later
        delivery may carry a valid signature an earlier one lacked, so `verified` only ever turns
        true.
        """
        postgres = self.dialect == "postgresql"
        insert = (postgresql.insert if postgres else sqlite.insert)(table).values(values)
        return self._count_repeats(insert, table, key)

    def _count_repeats(self, insert: Any, table: Table, key: Column[Any]) -> Any:
        """`insert` (of this dialect), counting a delivery on a repeated `key` instead."""
        postgres = self.dialect == "postgresql"
        latest = func.greatest if postgres else func.max
        return insert.on_conflict_do_update(
            index_elements=[key],
            set_={
                "delivery_count": table.c.delivery_count + 1,
                "last_received_at": latest(
                    func.coalesce(table.c.last_received_at, insert.excluded.last_received_at),
                    insert.excluded.last_received_at,
                ),
                "verified": table.c.verified | insert.excluded.verified
                if postgres
                else func.max(table.c.verified, insert.excluded.verified),
            },
        ).returning(table.c.delivery_count, key)

    def record_rejection(
        self,
        *,
        source_ip: str | None,
        status_code: int,
        reason: str,
        size: int,
        signature: str | None,
        received_at: datetime | None = None,
    ) -> None:
        """Note a refused delivery (bad signature, forbidden address, too large); never its body."""
        self.record_rejections(
            [
                {
                    "received_at": received_at,
                    "source_ip": source_ip,
                    "status_code": status_code,
                    "reason": reason,
                    "size": size,
                    "signature": signature,
                }
            ]
        )

    def record_rejections(
        self,
        items: Sequence[dict[str, Any]],
        *,
        unrecorded: Mapping[RejectionBucket, int] | None = None,
    ) -> None:
        """Note refused deliveries in one transaction (the receiver's rejection log): `items` get
        a row each; `unrecorded` counts, per bucket, those refused without one (sampled out).

        Every refused delivery is counted in `webhook_rejection_counts`, kept or not, so
        `count_rejections` stays exact however few rows are kept.
        """
        self.migrate()
        rows = [
            _fit_row(
                rejections,
                {
                    "received_at": _utc_naive(item.get("received_at") or datetime.now(UTC)),
                    "source_ip": item.get("source_ip"),
                    "status_code": item["status_code"],
                    "reason": item["reason"],
                    "size": min(max(int(item.get("size") or 0), 0), MAX_INT32),
                    "signature": item.get("signature") or None,
                    **{key: item.get(key) for key in CLAIM_COLUMNS},
                },
            )
            for item in items
        ]
        # bucket → [status code, refused, kept]
        counts: dict[tuple[datetime, str, str], list[int]] = {}
        for row in rows:
            key = (_minute(row["received_at"]), row["reason"], row["source_ip"] or "")
            counts.setdefault(key, [row["status_code"], 0, 0])
            counts[key][1] += 1
            counts[key][2] += 1
        for bucket, refused in (unrecorded or {}).items():
            if refused <= 0:
                continue
            key = (
                _minute(_utc_naive(bucket.minute)),
                fit(bucket.reason, 300) or "",
                fit(bucket.source_ip, 64) or "",
            )
            counts.setdefault(key, [bucket.status_code, 0, 0])
            counts[key][1] += refused
        if not counts:
            return
        with self._connection(write=True) as conn:
            if rows:
                conn.execute(rejections.insert(), rows)
            for (minute, reason, source_ip), (status, refused, kept) in counts.items():
                conn.execute(self._add_rejection_count(minute, reason, source_ip, status,
                                                       refused, kept))  # fmt: skip

    def _add_rejection_count(
        self, minute: datetime, reason: str, source_ip: str, status: int, refused: int, kept: int
    ) -> Any:
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(
            rejection_counts
        ).values(
            minute=minute,
            reason=reason,
            source_ip=source_ip,
            status_code=status,
            refused=refused,
            kept=kept,
        )
        return insert.on_conflict_do_update(
            index_elements=[
                rejection_counts.c.minute,
                rejection_counts.c.reason,
                rejection_counts.c.source_ip,
            ],
            set_={
                "refused": rejection_counts.c.refused + insert.excluded.refused,
                "kept": rejection_counts.c.kept + insert.excluded.kept,
            },
        )

    def count_rejections(self, *, since: datetime | None = None) -> int:
        """Refused deliveries in all (from the minute of `since` on), sampled out or not."""
        self.migrate()
        statement = select(func.coalesce(func.sum(rejection_counts.c.refused), 0))
        if since is not None:
            statement = statement.where(rejection_counts.c.minute >= _minute(_utc_naive(since)))
        with self._connection() as conn:
            return int(conn.execute(statement).scalar_one())

    def rejection_buckets(self, *, limit: int = 200) -> list[dict[str, Any]]:
        """The newest per-minute counts: minute, reason, source_ip, status_code, refused, kept."""
        self.migrate()
        statement = (
            select(rejection_counts)
            .order_by(rejection_counts.c.minute.desc(), rejection_counts.c.refused.desc())
            .limit(limit)
        )
        with self._connection() as conn:
            return [
                {**row, "minute": _aware(row["minute"]), "source_ip": row["source_ip"] or None}
                for row in conn.execute(statement).mappings()
            ]

    def prune_rejections(self, older_than: datetime, *, chunk: int = 5000) -> int:
        """Remove rejection rows and counts from before `older_than` (retention); returns the
        rows removed. Works in short transactions, so the receiver's writes are never held up
        behind one long delete."""
        self.migrate()
        cutoff = _utc_naive(older_than)
        removed = 0
        while True:
            doomed = select(rejections.c.id).where(rejections.c.received_at < cutoff).limit(chunk)
            with self._connection(write=True) as conn:
                gone = conn.execute(
                    rejections.delete().where(rejections.c.id.in_(doomed.scalar_subquery()))
                ).rowcount
            removed += gone
            if gone < chunk:
                break
        with self._connection(write=True) as conn:
            conn.execute(
                rejection_counts.delete().where(rejection_counts.c.minute < _minute(cutoff))
            )
        return removed

    def record_dead_letter(
        self,
        *,
        source_ip: str | None,
        reason: str,
        verified: bool,
        body: bytes,
        received_at: datetime | None = None,
    ) -> int:
        """Keep a delivery that could not be read, body included, for a human to look at.

        The same body again is counted on the first letter; returns its delivery count.
        """
        self.migrate()
        with self._connection(write=True) as conn:
            return self._dead_letter_in(
                conn,
                source_ip=source_ip,
                reason=reason,
                verified=verified,
                body=body,
                received_at=received_at,
            )

    def _dead_letter_in(
        self,
        conn: Connection,
        *,
        source_ip: str | None,
        reason: str,
        verified: bool,
        body: bytes,
        received_at: datetime | None,
        outcome: str | None = None,
    ) -> int:
        """`record_dead_letter` in the caller's transaction; returns the letter's delivery count.
        A letter that can never become an event is written with its `outcome` (`KEPT_APART`)."""
        when = _utc_naive(received_at or datetime.now(UTC))
        row = _fit_row(
            dead_letters,
            {
                "source_ip": source_ip,
                "reason": reason,
                "verified": verified,
                "size": min(len(body), MAX_INT32),
                "body": body.decode("utf-8", "replace"),
                "body_digest": "sha256:" + hashlib.sha256(body).hexdigest(),
                "received_at": when,
                "last_received_at": when,
                "reprocess_outcome": outcome,
            },
        )
        statement = self._insert_or_count(dead_letters, dead_letters.c.body_digest, row)
        return int(conn.execute(statement).scalar_one())

    # -- reads ----------------------------------------------------------------------------------

    def event_conditions(
        self,
        flt: EventFilter,
        *,
        text_rows: TextCandidates | bool = True,
        bank_entities_as_array: bool = False,
    ) -> Any:
        """`flt` as one SQL condition on `webhook_events` (the inbox, its counts and exports).

        Text is a case-insensitive substring of the payload, event_id or type (`%`, `_` and `\\`
        are literal). `text_rows` says how the text index serves it: True reads it within the
        statement; `TextCandidates` are what `text_candidates` already read; False scans (a
        text matching most events is found sooner along the inbox's order than through an index).
        `bank_entities_as_array`: see `BANK_ARRAY_ENTITIES`.
        """
        conditions = []
        if flt.types:
            conditions.append(events.c.type.in_(flt.types))
        for name in ("customer_id", "entity_id", "app_user_id", "refresh_id"):
            value = getattr(flt, name)
            if value:
                conditions.append(events.c[name] == value)
        if flt.bank_identifier:
            # Refresh events name their entity, not their bank: the book index joins the two.
            at_bank = select(index_entities.c.entity_id).where(
                index_entities.c.bank_identifier == flt.bank_identifier
            )
            of_bank: Any = events.c.entity_id.in_(at_bank)
            if bank_entities_as_array and self.dialect == "postgresql":
                of_bank = events.c.entity_id == any_(func.array(at_bank.scalar_subquery()))
            conditions.append(
                or_(
                    events.c.bank_identifier == flt.bank_identifier,
                    # Not `IS NULL`: an index would offer every refresh event for it.
                    and_(func.coalesce(events.c.bank_identifier, "") == "", of_bank),
                )
            )
        conditions.extend(occurred_between(flt.since, flt.until))
        if flt.text and flt.text.strip():
            conditions.append(self._text_condition(flt.text.strip(), text_rows))
        return and_(*conditions) if conditions else literal(True)

    def _text_condition(self, needle_text: str, text_rows: TextCandidates | bool) -> Any:
        needle = _like_pattern(needle_text)
        caseless = _caseless(needle_text)
        if self.dialect == "postgresql":
            if caseless:  # the same rows, without lowering each text (Arabic: a third the time)
                scan: Any = _holds(SEARCH_TEXT, needle_text)
            else:
                scan = _ilike(SEARCH_TEXT, needle_text, needle)
        else:
            scan = or_(
                events.c.payload.ilike(needle, escape="\\"),
                events.c.event_id.ilike(needle, escape="\\"),
                events.c.type.ilike(needle, escape="\\"),
            )
        windowed, parameters = self._candidate_parameters(needle_text)
        if text_rows is False or parameters["fts_query"] is None or not self._text_index():
            return scan
        if text_rows is True:
            # The trigram index finds candidates (SQLite: every trigram present, in any order);
            # the substring test on the row itself decides. Events the batches have not indexed
            # yet are tested row by row (the newest few), as of the same statement.
            candidates: Any = (
                text(self._candidates_sql(windowed, caseless=caseless, early="early" in parameters))
                .bindparams(**parameters)
                .columns(rowid=Integer)
            )
            tail = events.c.id > literal_column(INDEXED_THROUGH)
            return and_(or_(events.c.id.in_(candidates), tail), scan)
        # Candidates read earlier: the tail is what the index had not reached when they were.
        tail = events.c.id > text_rows.indexed_through
        if text_rows.exact:  # ~6,000 bodies of an Arabic bank name not tested twice: -60% time
            return or_(row_ids_in(self.dialect, list(text_rows)), and_(tail, scan))
        return and_(or_(row_ids_in(self.dialect, list(text_rows)), tail), scan)

    def _candidates_sql(
        self,
        windowed: bool = False,
        *,
        occurred: bool = False,
        caseless: bool = False,
        early: bool = False,
    ) -> str:
        """The text index's candidates as `rowid` (PostgreSQL, `occurred`: and when each
        occurred, its type and its status; `caseless`: the needle has no case; `early`: rows up
        to `:early` may hold a text in its own case, tested with `ILIKE`)."""
        if self.dialect == "postgresql":

            def holds(pattern: str) -> str:
                lowered = f"doc LIKE lower(:{pattern}) ESCAPE '\\'"
                if not early:
                    return lowered
                like = "LIKE" if caseless else "ILIKE"
                # `id + 0`: no range of the primary key for the planner to AND with the
                # trigram bitmap (half a million ids read each way: 0.1 s).
                return (
                    f"(id + 0 > :early AND {lowered} OR "
                    f"id + 0 <= :early AND doc {like} :{pattern} ESCAPE '\\')"
                )

            facets = ", type, status" if occurred else ""
            if windowed:
                # The index is asked for the needle's two ends (`_trigram_windows`), the whole
                # needle tested on what they name; `OFFSET 0` keeps the planner from handing the
                # whole needle's trigrams to the index again.
                when = f", {SEARCH_OCCURRED.format(table='ends')} AS occurred" if occurred else ""
                return (
                    f"SELECT id AS rowid{when}{facets} FROM (SELECT id, doc"
                    f"{', occurred' * occurred}{facets} "
                    f"FROM {EVENTS_SEARCH} WHERE {holds('fts_head')} "
                    f"AND {holds('fts_tail')} OFFSET 0) ends "
                    f"WHERE {holds('fts_query')}"
                )
            when = (
                f", {SEARCH_OCCURRED.format(table=EVENTS_SEARCH)} AS occurred" if occurred else ""
            )
            return (
                f"SELECT id AS rowid{when}{facets} FROM {EVENTS_SEARCH} WHERE {holds('fts_query')}"
            )
        return f"SELECT rowid FROM {EVENTS_FTS} WHERE {EVENTS_FTS} MATCH :fts_query"

    def _candidate_parameters(
        self, needle_text: str, early: int | None = None
    ) -> tuple[bool, dict[str, Any]]:
        """Whether the candidates' SQL asks for the needle's ends, and its parameters
        (PostgreSQL: `early`, the highest row of the index from before schema 10; the last
        value read when not given)."""
        if self.dialect != "postgresql":
            return False, {"fts_query": fts_query(needle_text)}
        query = None if len(needle_text) < 3 else _like_pattern(needle_text)
        if early is None:
            early = self._search_early_through()
        parameters: dict[str, Any] = {"fts_query": query, **({"early": early} if early else {})}
        ends = _trigram_windows(needle_text)
        if ends is None:
            return False, parameters
        head, tail = ends
        return True, {**parameters, "fts_head": head, "fts_tail": tail}

    def _search_early_through(self, conn: Connection | None = None) -> int:
        """PostgreSQL: the highest row id of the text index indexed before schema 10 and not
        completed since (0 once the indexer has completed them all, which stays so: later rows
        are complete as they are inserted). Read on `conn` when given; else the value last read,
        never asking for a connection of its own (a page holds one already: two per search
        stalled pages when the pool ran short). Before any read, every row may be early.
        A value read earlier only errs high, which is safe: such rows are tested as early."""
        if self._search_early == 0:
            return 0
        if conn is not None:
            self._search_early = _early_through(conn)
            return self._search_early
        return EARLY_UNKNOWN if self._search_early is None else self._search_early

    def _text_index(self) -> bool:
        """True when the database has its text index (SQLite before 3.34 has no trigrams; a
        PostgreSQL role may not have been allowed to create pg_trgm)."""
        if self._has_text_index is None:
            with self._connection() as conn:
                if self.dialect == "postgresql":
                    found = conn.execute(
                        text("SELECT to_regclass(:name)"), {"name": EVENTS_SEARCH}
                    ).scalar()
                else:
                    found = conn.execute(
                        text("SELECT 1 FROM sqlite_master WHERE name = :name"),
                        {"name": EVENTS_FTS},
                    ).first()
                self._has_text_index = found is not None
        return self._has_text_index

    def text_candidates(
        self,
        needle_text: str,
        *,
        limit: int,
        among: Any = None,
        types: Sequence[str] = (),
        status: str | None = None,
    ) -> TextCandidates | None:
        """Row ids the text index names for `needle_text` (a superset of the indexed matches),
        or None when it names more than `limit` (a common text: scan instead) or cannot serve it
        (under three characters: no trigram).

        `among` (PostgreSQL): a condition on the events; only the named rows that meet it are
        listed (`TextCandidates.among`), tested in the same statement. `types` and `status`,
        which `among` must also require, are first tested on the index's own copy, so only the
        rows that pass read their event. "iban" with status PENDING: 23,000 named ids were sent
        back to be tested by id, none of them PENDING (0.16 s of 0.48)."""
        needle_text = needle_text.strip()
        if len(needle_text) < 3:
            return None
        self.migrate()
        if not self._text_index():
            return None
        with self._connection() as conn:
            # How far the index reaches first, then what it names: whatever a batch adds in
            # between is named too, and everything up to the cursor read is in it.
            through = int(conn.execute(text(f"SELECT {INDEXED_THROUGH}")).scalar() or 0)
            postgres = self.dialect == "postgresql"
            early = self._search_early_through(conn) if postgres else 0
            windowed, parameters = self._candidate_parameters(needle_text, early)
            without_jit(conn)  # compiling the plan took 10 of a 40 ms read
            candidates = self._candidates_sql(
                windowed,
                occurred=postgres,
                caseless=_caseless(needle_text),
                early=postgres and "early" in parameters,
            )
            statement: Any = text(f"{candidates} LIMIT :n")
            if postgres and among is not None:
                named = statement.bindparams(**parameters, n=limit + 1)
                early = parameters.get("early", 0)
                rows = conn.execute(_named_among(named, among, types, status, early)).all()
            else:
                rows = conn.execute(statement, {**parameters, "n": limit + 1}).all()
        if len(rows) > limit:
            return None
        if not postgres:
            return TextCandidates([int(row[0]) for row in rows], through)
        if among is not None:  # (each named row, and when it occurred if it meets `among`)
            rows = [row for row in rows if row[1] is not None]
        return TextCandidates(
            [int(row[0]) for row in rows],
            through,
            exact=True,
            occurred=[row[1] for row in rows],
            among=among is not None,
        )

    def index_search_text(self, *, limit: int = 2000) -> int:
        """Add up to `limit` events not yet in the text index, oldest first; how many were added
        (0 when caught up). Search tests the events after them row by row meanwhile.

        Safe from several threads or processes: the batch and the cursor move in one
        transaction (SQLite has one writer at a time; PostgreSQL takes an advisory lock, and
        leaves events younger than `SEARCH_SETTLE_SECONDS`, which an earlier id may still be
        committing behind).
        """
        self.migrate()
        if not self._text_index():
            return 0
        if self.dialect == "postgresql":
            return self._index_search_text_postgres(limit)
        batch = f"SELECT id FROM webhook_events WHERE id > {INDEXED_THROUGH} ORDER BY id LIMIT :n"
        with self._connection(write=True) as conn:
            added = conn.execute(
                text(
                    f"INSERT INTO {EVENTS_FTS}(rowid, type, event_id, payload) "
                    f"SELECT id, type, event_id, payload FROM webhook_events WHERE id IN ({batch})"
                ),
                {"n": limit},
            ).rowcount
            if added:
                through = conn.execute(
                    text(f"SELECT max(id) FROM ({batch})"), {"n": limit}
                ).scalar_one()
                _set_meta(conn, SEARCH_CURSOR, str(through))
        return int(added or 0)

    def _index_search_text_postgres(self, limit: int) -> int:
        doc, occurred = (
            str(sql.compile(dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}))
            for sql in (SEARCH_TEXT, OCCURRED)
        )
        with self._connection(write=True) as conn:
            if not conn.execute(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SEARCH_INDEX_LOCK}
            ).scalar():
                return 0  # another process is on it
            settled = datetime.now(UTC).replace(tzinfo=None) - _SETTLE
            # The batch stops short of the first young event: the cursor never passes it.
            young = (
                "SELECT min(id) FROM webhook_events WHERE received_at >= :settled "
                f"AND id > {INDEXED_THROUGH}"
            )
            through, added = conn.execute(
                text(
                    f"WITH batch AS (SELECT id, {doc} AS doc, {occurred} AS occurred, "
                    f"type, status FROM webhook_events WHERE id > {INDEXED_THROUGH} "
                    f"AND id < coalesce(({young}), :no_end) ORDER BY id LIMIT :n), "
                    f"added AS (INSERT INTO {EVENTS_SEARCH} (id, doc, occurred, type, status) "
                    "SELECT id, doc, occurred, type, status FROM batch ON CONFLICT (id) "
                    "DO UPDATE SET doc = excluded.doc, occurred = excluded.occurred, "
                    "type = excluded.type, status = excluded.status) "
                    "SELECT max(id), count(*) FROM batch"
                ),
                {"settled": settled, "n": limit, "no_end": 2**62},
            ).one()
            if through is not None:
                _set_meta(conn, SEARCH_CURSOR, str(through))
            # Rows indexed before schema 9: when they occurred, a batch at a time.
            filled = 0
            if added < limit:
                filled = conn.execute(
                    text(
                        f"UPDATE {EVENTS_SEARCH} s SET occurred = {occurred} "
                        "FROM webhook_events WHERE webhook_events.id = s.id AND s.id IN "
                        f"(SELECT id FROM {EVENTS_SEARCH} WHERE occurred IS NULL "
                        "ORDER BY id LIMIT :n)"
                    ),
                    {"n": limit - added},
                ).rowcount
            filled = max(int(filled or 0), 0)
            # Rows indexed before schema 10: completed, a batch at a time.
            completed = 0
            if added + filled < limit:
                completed = _complete_early_rows(conn, limit - added - filled)
            self._search_early_through(conn)  # (this process's searches know at once)
        if added >= limit:
            self._analyze_search_text_when_grown()
        return int(added) + filled + completed

    def _analyze_search_text_when_grown(self) -> None:
        """ANALYZE the text index's table once it has more than doubled since its statistics
        (a first catch-up over a stored million): until autovacuum came round, searching a
        million for an IBAN or an event_id took 0.5–0.7 s, against 0.05–0.1 s after."""
        with self._connection(write=True) as conn:
            grown = conn.execute(
                text(
                    "SELECT pg_relation_size(oid) / current_setting('block_size')::int "
                    "> 2 * greatest(relpages, 0) + :floor FROM pg_class "
                    "WHERE oid = to_regclass(:name)"
                ),
                {"name": EVENTS_SEARCH, "floor": SEARCH_ANALYZE_PAGES},
            ).scalar()
            if grown:
                conn.execute(text(f"ANALYZE {EVENTS_SEARCH}"))

    def search_backlog(self) -> int:
        """Events the text index has not reached yet."""
        self.migrate()
        if not self._text_index():
            return 0
        with self._connection() as conn:
            cursor = conn.execute(text(f"SELECT {INDEXED_THROUGH}")).scalar()
            newest = conn.execute(select(func.max(events.c.id))).scalar()
        return max(int(newest or 0) - int(cursor or 0), 0)

    def query_events(
        self, flt: EventFilter = EventFilter(), *, limit: int = 50, offset: int = 0
    ) -> list[StoredEvent]:
        """Events matching `flt`, newest (by Lean's timestamp) first."""
        self.migrate()
        statement = (
            select(*EVENT_COLUMNS, ENTITY_BANK)
            .select_from(EVENTS_WITH_BANK)
            .where(self.event_conditions(flt))
            .order_by(OCCURRED.desc(), events.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._connection() as conn:
            return [_stored(row) for row in conn.execute(statement).mappings()]

    def count_events(self, flt: EventFilter = EventFilter()) -> int:
        """How many events match `flt` (exactly: the inbox estimates large counts instead)."""
        self.migrate()
        with self._connection() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(events).where(self.event_conditions(flt))
                ).scalar_one()
            )

    def other_bodies(self, event_id: str) -> tuple[int, int]:
        """(dead letters, deliveries) of `event_id` that came with another body than the stored
        event's (kept apart by the receiver)."""
        self.migrate()
        # As the receiver wrote it: cleaned and fitted to the column.
        reason = _fit_row(dead_letters, {"reason": different_body_reason(event_id)})["reason"]
        with self._connection() as conn:
            letters, deliveries = conn.execute(
                select(func.count(), func.coalesce(func.sum(dead_letters.c.delivery_count), 0))
                .select_from(dead_letters)
                .where(dead_letters.c.reason == reason)
            ).one()
        return int(letters), int(deliveries)

    def get_event(self, event_id: str) -> StoredEvent | None:
        """One event by its id."""
        self.migrate()
        statement = (
            select(*EVENT_COLUMNS, ENTITY_BANK)
            .select_from(EVENTS_WITH_BANK)
            .where(events.c.event_id == event_id)
        )
        with self._connection() as conn:
            row = conn.execute(statement).mappings().first()
        return _stored(row) if row else None

    def event_types(self) -> list[tuple[str, int]]:
        """Every event type seen, with its count, most frequent first."""
        self.migrate()
        statement = (
            select(events.c.type, func.count())
            .group_by(events.c.type)
            .order_by(func.count().desc())
        )
        with self._connection() as conn:
            return [(t, int(n)) for t, n in conn.execute(statement)]

    def bank_identifiers(self) -> list[str]:
        """Banks that appear in events (entity events name the banks refresh events lack)."""
        self.migrate()
        statement = (
            select(events.c.bank_identifier).where(events.c.bank_identifier.is_not(None)).distinct()
        )
        with self._connection() as conn:
            return sorted(r[0] for r in conn.execute(statement))

    def refresh_status(self, refresh_id: str) -> StoredEvent | None:
        """The refresh's current state: its event with the latest Lean timestamp."""
        self.migrate()
        statement = (
            select(*EVENT_COLUMNS)
            .where(events.c.refresh_id == refresh_id)
            .order_by(*CURRENT_STATE_ORDER)
            .limit(1)
        )
        with self._connection() as conn:
            row = conn.execute(statement).mappings().first()
        return _stored(row) if row else None

    def list_rejections(self, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Refused deliveries, newest first."""
        return self._newest(rejections, limit, offset)

    def list_dead_letters(self, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Unreadable deliveries, newest first."""
        return self._newest(dead_letters, limit, offset)

    def _newest(self, table: Table, limit: int, offset: int) -> list[dict[str, Any]]:
        self.migrate()
        statement = (
            select(table)
            .order_by(table.c.received_at.desc(), table.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._connection() as conn:
            return [
                {**row, "received_at": _aware(row["received_at"])}
                for row in conn.execute(statement).mappings()
            ]

    def count_table(self, name: str) -> int:
        """Rows in `webhook_dead_letters` or `webhook_events`; for "rejections", every refused
        delivery (`count_rejections`), not only the sampled rows."""
        if name == "rejections":
            return self.count_rejections()
        self.migrate()
        table = {"rejections": rejections, "dead_letters": dead_letters, "events": events}[name]
        with self._connection() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def export_csv(self, flt: EventFilter, *, max_rows: int = 100_000) -> str:
        """The filtered inbox as CSV (payload included), newest first, at most `max_rows` rows.

        Personal data is always masked in an export (`console.masking`): the payload by its keys,
        the app_user_id when it is an e-mail address or a phone number.
        """
        from console.masking import mask_export_value

        self.migrate()
        buffer = io.StringIO()
        columns = [
            "event_id", "type", "lean_timestamp", "received_at", "last_received_at", "delivery_count", "verified",
            "customer_id", "entity_id", "app_user_id", "bank_identifier", "refresh_id", "status", "source_ip", "payload",
        ]  # fmt: skip
        writer = csv.writer(buffer)
        writer.writerow(columns)
        # Keyset pages along the inbox's order: each costs one page however deep (OFFSET re-read
        # every row before it, quadratic over an export of a million events).
        condition = self.event_conditions(flt)
        position: tuple[Any, int] | None = None
        written = 0
        while written < max_rows:
            statement = (
                select(*EVENT_COLUMNS, ENTITY_BANK, OCCURRED.label("at"), events.c.id.label("row"))
                .select_from(EVENTS_WITH_BANK)
                .where(condition)
                .order_by(OCCURRED.desc(), events.c.id.desc())
                .limit(min(5000, max_rows - written))
            )
            if position is not None:
                at, row_id = position
                statement = statement.where(
                    or_(at > OCCURRED, and_(at == OCCURRED, events.c.id < row_id))
                )
            with self._connection() as conn:
                batch = list(conn.execute(statement).mappings())
            for row in batch:
                item = _stored({k: v for k, v in row.items() if k not in ("at", "row")})
                writer.writerow([csv_cell(mask_export_value(c, getattr(item, c))) for c in columns])
            written += len(batch)
            if len(batch) < 5000:
                break
            position = (batch[-1]["at"], batch[-1]["row"])
        return buffer.getvalue()

    # -- meta -----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value the console keeps about itself (schema version, sandbox back-fill)."""
        self.migrate()
        with self._connection() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        """Set a console value."""
        self.migrate()
        with self._connection(write=True) as conn:
            _set_meta(conn, key, value)

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    # -- bank history and health (the Banks screen) ----------------------------------------------

    def bank_availability_events(
        self, since: datetime, *, bank_identifier: str | None = None, limit: int = 20_000
    ) -> list[StoredEvent]:
        """`bank.availability.updated` events from `since` on, oldest first by Lean's clock, plus
        each bank's last event before `since` (the state the window opens with)."""
        self.migrate()
        since_naive = _utc_naive(since)
        conditions = [events.c.type == BANK_EVENT_TYPE]
        if bank_identifier:
            conditions.append(events.c.bank_identifier == bank_identifier)
        earlier = (
            select(
                events.c.id,
                func.row_number()
                .over(partition_by=events.c.bank_identifier, order_by=CURRENT_STATE_ORDER)
                .label("rank"),
            )
            .where(*conditions, since_naive > OCCURRED)
            .subquery("earlier")
        )
        opening = select(earlier.c.id).where(earlier.c.rank == 1)
        statement = (
            select(*EVENT_COLUMNS)
            .where(*conditions, or_(since_naive <= OCCURRED, events.c.id.in_(opening)))
            .order_by(OCCURRED.desc(), events.c.lean_timestamp_ns.desc(), events.c.id.desc())
            .limit(limit)
        )
        with self._connection() as conn:
            rows = [_stored(row) for row in conn.execute(statement).mappings()]
        return rows[::-1]

    def _finished_refreshes(self, since: datetime) -> Any:
        """Each refresh's latest FINISHED event from `since` on, with the bank of its entity.

        Refresh events name the entity, not the bank; `entity.created` / `entity.updated` events
        name both, so the bank comes from those, in the same table. A refresh whose entity has no
        such event stored has no bank (None).
        """
        entity_bank = (
            select(
                events.c.entity_id,
                func.min(events.c.bank_identifier).label("bank_identifier"),
            )
            .where(
                events.c.type.in_(("entity.created", "entity.updated")),
                events.c.entity_id.is_not(None),
                events.c.bank_identifier.is_not(None),
            )
            .group_by(events.c.entity_id)
            .subquery("entity_bank")
        )
        finished = (
            select(
                events.c.id,
                events.c.entity_id,
                OCCURRED.label("finished_at"),
                func.row_number()
                .over(partition_by=events.c.refresh_id, order_by=CURRENT_STATE_ORDER)
                .label("rank"),
            )
            .where(
                events.c.type == "entity.data.refresh.updated",
                events.c.status == "FINISHED",
                events.c.refresh_id.is_not(None),
                _utc_naive(since) <= OCCURRED,
            )
            .subquery("finished")
        )
        # The book index knows the bank of entities connected before any stored entity event
        # (synced from Lean); entity events cover what the index has not seen yet.
        bank = func.coalesce(index_entities.c.bank_identifier, entity_bank.c.bank_identifier)
        return (
            select(bank.label("bank_identifier"), finished.c.id, finished.c.finished_at)
            .select_from(finished)
            .outerjoin(entity_bank, finished.c.entity_id == entity_bank.c.entity_id)
            .outerjoin(index_entities, finished.c.entity_id == index_entities.c.entity_id)
            .where(finished.c.rank == 1)
            .subquery("finished_by_bank")
        )

    def finished_refresh_counts(self, since: datetime) -> dict[str | None, int]:
        """How many refreshes finished at each bank from `since` on (counted in SQL); under None,
        those whose bank is not known."""
        self.migrate()
        finished = self._finished_refreshes(since)
        statement = select(finished.c.bank_identifier, func.count()).group_by(
            finished.c.bank_identifier
        )
        with self._connection() as conn:
            return {bank: int(n) for bank, n in conn.execute(statement)}

    def finished_refreshes(
        self, since: datetime, *, bank_identifier: str | None = None, limit: int = 20_000
    ) -> list[tuple[str, datetime, str]]:
        """(bank, finished at, raw body) of each refresh finished from `since` on, newest first.

        Per-account statuses live only in the JSON body, which the two databases read with
        different functions; the caller parses the bodies, so this returns at most `limit` rows
        of the window (compare with `finished_refresh_counts` to tell when it was cut).
        """
        self.migrate()
        finished = self._finished_refreshes(since)
        statement = (
            select(finished.c.bank_identifier, finished.c.finished_at, events.c.payload)
            .join_from(finished, events, finished.c.id == events.c.id)
            .where(finished.c.bank_identifier.is_not(None))
            .order_by(finished.c.finished_at.desc(), finished.c.id.desc())
            .limit(limit)
        )
        if bank_identifier:
            statement = statement.where(finished.c.bank_identifier == bank_identifier)
        with self._connection() as conn:
            return [
                (bank, _aware(at), body)  # type: ignore[misc]
                for bank, at, body in conn.execute(statement)
            ]


# A search text's trigrams asked of the index, at most this many (spread over the text): more
# only narrows candidates the substring test checks anyway, and each costs a posting list.
FTS_TRIGRAMS = 12


_SETTLE = timedelta(seconds=SEARCH_SETTLE_SECONDS)


def row_ids_in(dialect: str, ids: Sequence[int]) -> Any:
    """`webhook_events.id` among `ids`, as one parameter (thousands of bound values cost more
    to compile and bind than the lookups themselves). PostgreSQL's is an array's text: psycopg
    dumps a list element by element in Python (23,000 ids: 40 ms against 3)."""
    if dialect == "postgresql":
        listed = "{" + ",".join(str(int(i)) for i in ids) + "}"
        return events.c.id == any_(cast(literal(listed), postgresql.ARRAY(BigInteger)))
    listed = func.json_each(json.dumps(list(ids))).table_valued("value")
    return events.c.id.in_(select(listed.c.value))


# A character with no case of its own that lower-casing still writes: ICU lowers İ to "i" and this
# COMBINING DOT ABOVE (Unicode's one unconditional lower case of two characters), so `ILIKE`
# finds it in a text holding İ where the text as it is does not hold it.
WRITTEN_BY_LOWERING = "\u0307"


def _caseless(needle_text: str) -> bool:
    """The needle has no letter with a case (Arabic, digits, punctuation), nor a character that
    lowering another writes: `LIKE` finds what `ILIKE` would, without lowering every text it
    tests."""
    return WRITTEN_BY_LOWERING not in needle_text and all(
        c.lower() == c == c.upper() and c.casefold() == c for c in needle_text
    )


# Outside ASCII, the letters whose lower case is an ASCII letter (Unicode's, glibc's, ICU's):
# DOTTED CAPITAL I (to i, or i and a combining dot) and KELVIN SIGN (to k).
ASCII_BY_LOWERING = {"i": "\u0130", "k": "\u212a"}


def _holds(column: Any, needle_text: str) -> Any:
    """PostgreSQL: `column` holds `needle_text` as it is (`LIKE '%needle%'`'s rows: `strpos`
    searches for the needle where `LIKE` matches its pattern at every character, 87 → 72 ms over
    23,000 bodies of which 70 are reading them)."""
    return func.strpos(column, needle_text) > 0


def _ilike(column: Any, needle_text: str, needle: str) -> Any:
    """PostgreSQL's `column ILIKE needle`, cheaper for an ASCII needle: under the "C" collation
    `lower` lowers only A–Z, where the database's own lowers every character of each body it
    tests, and the lowered needle is searched for in it (23,000 bodies: `ILIKE` 0.28 s, under
    "C" 0.16 s, this 0.12 s). The two characters outside ASCII whose lower case is an ASCII
    letter send a body that holds one to the database's own `ILIKE`, so the rows are those it
    finds under any locale that lowers A–Z to a–z (all but Turkish and Azeri)."""
    if not needle_text.isascii():
        return column.ilike(needle, escape="\\")
    fast = _holds(func.lower(column.collate("C")), needle_text.lower())
    odd = [char for letter, char in ASCII_BY_LOWERING.items() if letter in needle_text.lower()]
    if not odd:
        return fast
    holds_odd = or_(*(func.strpos(column, char) > 0 for char in odd))
    return or_(fast, and_(holds_odd, column.ilike(needle, escape="\\")))


def _like_pattern(needle_text: str) -> str:
    """`%needle%` for `LIKE … ESCAPE '\\'`: `%`, `_` and `\\` in it match only themselves."""
    return "%" + needle_text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# An identifier pasted into search (an event_id, a UUID, an IBAN) is asked of PostgreSQL's
# trigram index by its two ends of this many characters. All of its trigrams made the index
# intersect 34 long lists for a UUID (hex trigrams are in nearly every event's ids): 0.1–0.25 s
# warm and 0.9 s cold over a million events; its two ends, 0.02 s warm and 0.06 s cold.
TRIGRAM_WINDOW = 8


def _trigram_windows(needle_text: str) -> tuple[str, str] | None:
    """The `LIKE` patterns of an identifier's two ends, or None for any other needle.

    Identifier: 20 characters or more, no space, a digit among them. Ends of words and phrases
    can be common where the whole is rare (each row they name is tested), so those keep every
    trigram."""
    if len(needle_text) < 20 or any(c.isspace() for c in needle_text):
        return None
    if not any(c.isdigit() for c in needle_text):
        return None
    head, tail = needle_text[:TRIGRAM_WINDOW], needle_text[-TRIGRAM_WINDOW:]
    if head.casefold() == tail.casefold():
        return None
    return _like_pattern(head), _like_pattern(tail)


def fts_query(needle_text: str) -> str | None:
    """The FTS5 query for a substring: each of its trigrams present (the index keeps no positions,
    so the row itself is tested for the substring). None under three characters: no trigram."""
    trigrams = list(dict.fromkeys(needle_text[i : i + 3] for i in range(len(needle_text) - 2)))
    if not trigrams:
        return None
    if len(trigrams) > FTS_TRIGRAMS:
        step = (len(trigrams) - 1) / (FTS_TRIGRAMS - 1)
        trigrams = list(dict.fromkeys(trigrams[round(i * step)] for i in range(FTS_TRIGRAMS)))
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in trigrams)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _stored(row: Any) -> StoredEvent:
    data = dict(row)
    for name in ("lean_timestamp", "received_at", "last_received_at"):
        data[name] = _aware(data[name])
    data["verified"] = bool(data["verified"])
    return StoredEvent(**data)


def _set_meta(conn: Connection, key: str, value: str) -> None:
    updated = conn.execute(meta.update().where(meta.c.key == key).values(value=value)).rowcount
    if not updated:
        conn.execute(meta.insert().values(key=key, value=value))


WAL_AUTOCHECKPOINT_PAGES = 10_000


def _create_engine(url: str, busy_timeout_ms: int, lock_timeout_ms: int | None) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the screens read while the receiver writes; NORMAL is durable in WAL mode
            # against application crashes, and the write path commits before it answers.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # The receiver's writer checkpoints the WAL from a thread of its own
            # (`_WalCheckpointer`), so a commit seldom copies pages back itself (a p99 stall);
            # this is the backstop when no receiver runs: ~40 MB of WAL at most.
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            # 64 MB of page cache per connection (SQLite's default is 2 MB): the indexes of a
            # million events stay in memory for the fleet questions and the indexer.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # The store writes and compares naive UTC times (`_utc_naive`), which PostgreSQL reads in the
    # session's time zone: a server set up in Riyadh (`initdb` takes the system's) stored every
    # time 3 hours early. Every session is UTC, whatever the server's default.
    options = "-c timezone=UTC"
    if lock_timeout_ms:
        options += f" -c lock_timeout={lock_timeout_ms}"
    connect_args: dict[str, Any] = {"connect_timeout": 5, "options": options}
    return create_engine(
        url, pool_size=5, max_overflow=5, pool_pre_ping=True, connect_args=connect_args
    )


def _schema_1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[events, rejections, dead_letters], checkfirst=True)


def _schema_2(conn: Connection) -> None:
    """Nanoseconds of Lean's timestamps; dead letters counted by body instead of repeated."""
    existing = {
        table: {column["name"] for column in inspect(conn).get_columns(table)}
        for table in ("webhook_events", "webhook_dead_letters")
    }
    statements = [
        ("webhook_events", "lean_timestamp_ns", "INTEGER NOT NULL DEFAULT 0"),
        ("webhook_dead_letters", "body_digest", "VARCHAR(80)"),
        ("webhook_dead_letters", "delivery_count", "INTEGER NOT NULL DEFAULT 1"),
        (
            "webhook_dead_letters",
            "last_received_at",
            "TIMESTAMP" + (" WITH TIME ZONE" if conn.dialect.name == "postgresql" else ""),
        ),
    ]
    for table, column, ddl in statements:
        if column not in existing[table]:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))
    conn.execute(
        text(
            "CREATE UNIQUE INDEX IF NOT EXISTS uq_webhook_dead_letters_body_digest "
            "ON webhook_dead_letters (body_digest)"
        )
    )


def _schema_3(conn: Connection) -> None:
    """The book index: customers, entities, consents and sync progress (new tables only)."""
    metadata.create_all(conn, tables=list(INDEX_TABLES), checkfirst=True)


def _schema_4(conn: Connection) -> None:
    """The refresh index; the book indexer goes back over the refresh events already stored."""
    metadata.create_all(conn, tables=list(REFRESH_INDEX_TABLES), checkfirst=True)
    first_refresh = conn.execute(
        select(func.min(events.c.id)).where(events.c.type == "entity.data.refresh.updated")
    ).scalar()
    cursor = conn.execute(select(meta.c.value).where(meta.c.key == "book_indexer_cursor")).scalar()
    # Until now the indexer read only entity events: step back to the first refresh event
    # (entity events after it apply again, which changes nothing).
    if first_refresh is not None and cursor is not None and int(cursor) >= first_refresh:
        _set_meta(conn, "book_indexer_cursor", str(first_refresh - 1))


def _schema_5(conn: Connection) -> None:
    """The audit log, append-only in the database itself."""
    metadata.create_all(conn, tables=[audit_log], checkfirst=True)
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql"
            )
        )
        for verb in ("UPDATE", "DELETE"):
            conn.execute(
                text(
                    f"CREATE OR REPLACE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} "
                    "ON audit_log "
                    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
                )
            )
    else:
        for verb in ("UPDATE", "DELETE"):
            conn.execute(
                text(
                    f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{verb.lower()} BEFORE {verb} "
                    "ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
                )
            )


def _schema_6(conn: Connection) -> None:
    """The request log of Lean calls; dead letters remember being reprocessed."""
    metadata.create_all(conn, tables=[lean_calls], checkfirst=True)
    stamp = "TIMESTAMP" + (" WITH TIME ZONE" if conn.dialect.name == "postgresql" else "")
    added = {
        "webhook_dead_letters": [("reprocessed_at", stamp), ("reprocess_outcome", "VARCHAR(300)")],
        "webhook_rejections": [
            ("claimed_type", "VARCHAR(100)"),
            ("claimed_event_id", "VARCHAR(200)"),
            ("claimed_customer_id", "VARCHAR(64)"),
            ("claimed_entity_id", "VARCHAR(64)"),
        ],
    }
    for table, columns in added.items():
        existing = {c["name"] for c in inspect(conn).get_columns(table)}
        for column, ddl in columns:
            if column not in existing:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))
    for column in ("claimed_customer_id", "claimed_entity_id"):
        conn.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS ix_webhook_rejections_{column} "
                f"ON webhook_rejections ({column})"
            )
        )


def _schema_7(conn: Connection) -> None:
    """Refused deliveries counted per minute, reason and source; the rows become a sample.

    The counts start from the rows already kept, so the total refused is the same before and
    after the migration.
    """
    metadata.create_all(conn, tables=[rejection_counts], checkfirst=True)
    if conn.dialect.name == "postgresql":
        minute = "date_trunc('minute', received_at)"
    else:
        # SQLAlchemy's SQLite text form of a datetime, seconds and fraction zeroed.
        minute = "strftime('%Y-%m-%d %H:%M:00.000000', received_at)"
    conn.execute(
        text(
            "INSERT INTO webhook_rejection_counts "
            "(minute, reason, source_ip, status_code, refused, kept) "
            f"SELECT {minute}, reason, coalesce(source_ip, ''), max(status_code), count(*), "
            "count(*) FROM webhook_rejections "
            f"GROUP BY {minute}, reason, coalesce(source_ip, '')"
        )
    )


def _schema_8(conn: Connection) -> None:
    """The inbox at a million events: indexes in its order and a text index (idempotent).

    Each filter is indexed with the time the event occurred (`SORTED_FILTERS`), replacing the
    single-column indexes of schema 1. The text index is filled in batches behind the receiver
    (`EventStore.index_search_text`), from the first stored event on: SQLite an FTS5 trigram table
    over type, event_id and payload; PostgreSQL a table of `SEARCH_TEXT` with a pg_trgm GIN index.
    Without either (SQLite before 3.34, no right to create the extension) search scans.
    """
    for index in sorted(events.indexes, key=lambda i: str(i.name)):
        conn.execute(CreateIndex(index, if_not_exists=True))
    for name in REPLACED_EVENT_INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
    if conn.dialect.name == "postgresql":
        try:
            with conn.begin_nested():
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        except SQLAlchemyError as exc:
            log.warning("no text index (pg_trgm): search scans the events: %s", _first_line(exc))
            return
        # Apart from the events: a GIN index on them doubled the cost of every delivery.
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {EVENTS_SEARCH} "
                "(id BIGINT PRIMARY KEY, doc TEXT NOT NULL)"
            )
        )
        # Events leaving (retention, a test's TRUNCATE) leave the text index with them; one
        # statement-level trigger, so a delivery pays nothing.
        conn.execute(
            text(
                f"CREATE OR REPLACE FUNCTION {EVENTS_SEARCH}_forget() RETURNS trigger AS $$ "
                f"BEGIN IF TG_OP = 'TRUNCATE' THEN TRUNCATE {EVENTS_SEARCH}; "
                f"DELETE FROM console_meta WHERE key = '{SEARCH_CURSOR}'; "
                f"ELSE DELETE FROM {EVENTS_SEARCH} WHERE id IN (SELECT id FROM gone); END IF; "
                "RETURN NULL; END $$ LANGUAGE plpgsql"
            )
        )
        for name, when in (
            ("ad", "AFTER DELETE ON webhook_events REFERENCING OLD TABLE AS gone"),
            ("at", "AFTER TRUNCATE ON webhook_events"),
        ):
            conn.execute(
                text(
                    f"CREATE OR REPLACE TRIGGER {EVENTS_SEARCH}_{name} {when} FOR EACH STATEMENT "
                    f"EXECUTE FUNCTION {EVENTS_SEARCH}_forget()"
                )
            )
        conn.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS ix_{EVENTS_SEARCH}_doc ON {EVENTS_SEARCH} "
                "USING gin (doc gin_trgm_ops)"
            )
        )
        if conn.execute(select(meta.c.value).where(meta.c.key == SEARCH_CURSOR)).first() is None:
            _set_meta(conn, SEARCH_CURSOR, "0")
        return
    if sqlite3_version() < (3, 34, 0):
        log.warning("no text index: SQLite %s predates the trigram tokenizer", sqlite3_version())
        return
    conn.execute(
        text(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {EVENTS_FTS} USING fts5(type, event_id, payload, "
            "content='webhook_events', content_rowid='id', tokenize='trigram', detail='none')"
        )
    )
    # New events are indexed in batches behind the receiver (`EventStore.index_search_text`):
    # trigram-indexing a body costs ~0.5 ms, several times a whole delivery. A row leaving the
    # index (retention) or changing what search reads leaves it here; a repeated delivery
    # updates counts, not these columns, and fires nothing.
    columns = "type, event_id, payload"
    indexed = INDEXED_THROUGH
    remove = (
        f"INSERT INTO {EVENTS_FTS}({EVENTS_FTS}, rowid, {columns}) "
        "VALUES ('delete', old.id, old.type, old.event_id, old.payload);"
    )
    add = f"INSERT INTO {EVENTS_FTS}(rowid, {columns}) VALUES (new.id, new.type, new.event_id, new.payload);"
    for name, when, body in (
        ("ad", "AFTER DELETE", remove),
        ("au", f"AFTER UPDATE OF {columns}", remove + " " + add),
    ):
        conn.execute(
            text(
                f"CREATE TRIGGER IF NOT EXISTS {EVENTS_FTS}_{name} {when} ON webhook_events "
                f"WHEN old.id <= {indexed} BEGIN {body} END"
            )
        )
    if conn.execute(select(meta.c.value).where(meta.c.key == SEARCH_CURSOR)).first() is None:
        # An existing store is indexed from its first event on, by the same batches.
        _set_meta(conn, SEARCH_CURSOR, "0")


def _named_among(
    named: Any, among: Any, types: Sequence[str], status: str | None, early: int
) -> Any:
    """Each row `named` (the text index's candidates, as many as the limit allows and one more:
    their number decides a common text), with when it occurred where its event is still stored and meets `among`, else
    NULL. `types` and `status` are tested first on the index's copy (a row from before schema
    10 has none: its event decides), so only the rows that pass read their event."""
    found = named.columns(
        rowid=BigInteger, occurred=DateTime(timezone=True), type=String, status=String
    ).subquery("named")
    copied = []
    if types:
        copied.append(found.c.type.in_(list(types)))
    if status:  # (a blank status filters nothing, as in the inbox's own conditions)
        copied.append(found.c.status == status)
    # Asked of each row by its id (a subplan): as a join, PostgreSQL hashed all of PENDING's
    # 480,000 index entries against 23,000 named rows (0.4 s, against 0.07 s by id).
    kept: Any = exists().where(events.c.id == found.c.rowid, among)
    if copied:
        first = and_(*copied) if not early else or_(found.c.rowid <= early, and_(*copied))
        kept = and_(first, kept)  # (in this order: PostgreSQL stops at the first false)
    return select(found.c.rowid, case((kept, found.c.occurred)))


def _early_through(conn: Connection) -> int:
    """`SEARCH_EARLY`: the highest row id of PostgreSQL's text index indexed before schema 10
    and not completed since (0: none, or no text index)."""
    value = conn.execute(select(meta.c.value).where(meta.c.key == SEARCH_EARLY)).scalar()
    return int(value or 0)


def _complete_early_rows(conn: Connection, limit: int) -> int:
    """Complete up to `limit` rows of PostgreSQL's text index from before schema 10, the newest
    first: the text lower-cased, the event's type and status copied; then move `SEARCH_EARLY`
    below them. How many were read (0 once none is left)."""
    early = _early_through(conn)
    if not early:
        return 0
    lowest, read = conn.execute(
        text(
            f"WITH batch AS (SELECT id FROM {EVENTS_SEARCH} WHERE id <= :early "
            "ORDER BY id DESC LIMIT :n), "
            f"completed AS (UPDATE {EVENTS_SEARCH} s SET doc = lower(s.doc), type = e.type, "
            "status = e.status FROM webhook_events e, batch "
            "WHERE s.id = batch.id AND e.id = s.id) "
            "SELECT min(id), count(*) FROM batch"
        ),
        {"early": early, "n": limit},
    ).one()
    _set_meta(conn, SEARCH_EARLY, str(int(lowest) - 1 if read == limit else 0))
    return int(read)


def sqlite3_version() -> tuple[int, ...]:
    """The SQLite library's version (the trigram tokenizer needs 3.34)."""
    import sqlite3

    return sqlite3.sqlite_version_info


def _schema_9(conn: Connection) -> None:
    """PostgreSQL: the text index's table keeps when each event occurred (`SEARCH_OCCURRED`), so
    a search's matches are put in the inbox's order without reading the events. Rows already
    indexed are filled in by the indexer's batches (`EventStore.index_search_text`), not here: a
    million rows rewritten would hold every console's start for a minute."""
    if conn.dialect.name != "postgresql":
        return
    if conn.execute(text("SELECT to_regclass(:name)"), {"name": EVENTS_SEARCH}).scalar() is None:
        return  # no pg_trgm: no text index (search scans)
    conn.execute(text(f"ALTER TABLE {EVENTS_SEARCH} ADD COLUMN IF NOT EXISTS occurred timestamptz"))
    conn.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS ix_{EVENTS_SEARCH}_unfilled ON {EVENTS_SEARCH} (id) "
            "WHERE occurred IS NULL"
        )
    )


def _schema_10(conn: Connection) -> None:
    """PostgreSQL: the text index keeps each text lower-cased and the event's type and status
    (`SEARCH_EARLY`). A trigger lowers every row inserted and copies its event's type and status
    when the insert did not, whichever release's indexer inserts it (one still running the
    previous release's code too: its `ILIKE` finds the same rows in lowered texts). The rows
    already indexed are completed by the indexer's batches (`_complete_early_rows`), not here:
    a million rows rewritten would hold every console's start for minutes. The highest of them
    is read after the trigger is in place, which waits for any batch being inserted."""
    if conn.dialect.name != "postgresql":
        return
    if conn.execute(text("SELECT to_regclass(:name)"), {"name": EVENTS_SEARCH}).scalar() is None:
        return  # no pg_trgm: no text index (search scans)
    conn.execute(
        text(
            f"ALTER TABLE {EVENTS_SEARCH} ADD COLUMN IF NOT EXISTS type TEXT, "
            "ADD COLUMN IF NOT EXISTS status TEXT"
        )
    )
    conn.execute(
        text(
            f"CREATE OR REPLACE FUNCTION {EVENTS_SEARCH}_complete() RETURNS trigger AS $$ "
            "BEGIN NEW.doc := lower(NEW.doc); "
            "IF NEW.type IS NULL THEN SELECT e.type, e.status INTO NEW.type, NEW.status "
            "FROM webhook_events e WHERE e.id = NEW.id; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        )
    )
    conn.execute(
        text(
            f"CREATE OR REPLACE TRIGGER {EVENTS_SEARCH}_bi BEFORE INSERT ON {EVENTS_SEARCH} "
            f"FOR EACH ROW EXECUTE FUNCTION {EVENTS_SEARCH}_complete()"
        )
    )
    if conn.execute(select(meta.c.value).where(meta.c.key == SEARCH_EARLY)).first() is None:
        highest = conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {EVENTS_SEARCH}"))
        _set_meta(conn, SEARCH_EARLY, str(int(highest.scalar_one())))


def _schema_11(conn: Connection) -> None:
    """PostgreSQL: the audit log's subjects in an index a `LIKE 'start%'` can use (the default
    one orders by the database's collation, where a range of text is not a prefix): the audit
    screen finds a subject by its first characters (`console.audit._starts_with`). A few seconds
    at a million lines, once; SQLite's own index already serves its range."""
    if conn.dialect.name != "postgresql":
        return
    conn.execute(
        text(
            "CREATE INDEX IF NOT EXISTS ix_audit_log_subject_prefix "
            "ON audit_log (subject text_pattern_ops)"
        )
    )


def _schema_12(conn: Connection) -> None:
    """The newest bank availability event in one seek (`BANK_NEWEST_INDEX`, only bank
    events in it). PostgreSQL reads the events once to build it: about a second at a million."""
    index = next(i for i in events.indexes if i.name == BANK_NEWEST_INDEX)
    conn.execute(CreateIndex(index, if_not_exists=True))


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _schema_1),
    (2, _schema_2),
    (3, _schema_3),
    (4, _schema_4),
    (5, _schema_5),
    (6, _schema_6),
    (7, _schema_7),
    (8, _schema_8),
    (9, _schema_9),
    (10, _schema_10),
    (11, _schema_11),
    (12, _schema_12),
]


# ---------------------------------------------------------------------------------------------
# Group commit
# ---------------------------------------------------------------------------------------------


# The writer keeps its PostgreSQL connection while deliveries come at least this often.
HELD_IDLE_SECONDS = 1.0


class EventWriter:
    """Serialises writes through one thread and commits whatever is waiting in one transaction.

    A commit per request caps throughput at what fsync allows; here concurrent deliveries share a
    commit, and each caller is answered only after the commit that holds its event. The thread
    survives anything a record or the database does: a record the database refuses for its
    content is kept as a dead letter instead, without failing its neighbours.
    """

    def __init__(self, store: EventStore, *, max_batch: int = 256) -> None:
        self.store = store
        self.max_batch = max_batch
        # SimpleQueue: a put from the event loop is one C call, no Condition to notify. Each
        # item is every delivery one turn of an event loop submitted (`_hand_over`).
        self._queue: queue.SimpleQueue[list[_Job]] = queue.SimpleQueue()
        self._handoff: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self._checkpointer: _WalCheckpointer | None = None
        # When the database last refused a batch, cleared by the next commit: reads may still
        # work while writes do not (locked, full), so the health check asks the writer too.
        self.last_failure: float | None = None

    def start(self) -> EventWriter:
        """Start the writer now (server start-up) rather than with the first delivery: it
        compiles its batch statements before taking any, ~0.2 s the first deliveries would
        otherwise wait (the first write under wrk took 160 ms)."""
        self._ensure_started()
        return self

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
                self._thread.start()
            if self.store.dialect == "sqlite" and self._checkpointer is None:
                self._checkpointer = _WalCheckpointer(self)

    async def write(self, record: EventRecord, timeout: float = 6.0) -> WriteResult:
        """Store one delivery; returns after its transaction committed, or raises `StoreUnavailable`."""
        future = self.submit(record, timeout)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise self.timed_out(timeout) from None

    def submit(self, record: EventRecord, timeout: float = 6.0) -> asyncio.Future[WriteResult]:
        """Queue one delivery; the future resolves after its transaction committed (or with
        `StoreUnavailable`). The caller waits at most `timeout` for it, then `timed_out`."""
        if self._thread is None or not self._thread.is_alive():
            self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WriteResult] = loop.create_future()
        job = _Job(record, loop, future, time.monotonic() + timeout)
        waiting = self._handoff.get(loop)
        if waiting is None:
            # Handed to the writer once per turn of the loop, not once per delivery: each put
            # wakes the writer thread, and each wake-up is a turn of the GIL taken from the loop.
            self._handoff[loop] = [job]
            loop.call_soon(self._hand_over, loop)
        else:
            waiting.append(job)
        return future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue.put(self._handoff.pop(loop))

    def timed_out(self, timeout: float) -> StoreUnavailable:
        """A commit that did not come within `timeout`: a failing store, whatever it says later."""
        self.last_failure = time.monotonic()
        return StoreUnavailable(f"the store did not commit within {timeout:.0f} s")

    @property
    def failing(self) -> bool:
        """The last batch could not be committed, within the last minute."""
        return self.last_failure is not None and time.monotonic() - self.last_failure < 60

    def write_sync(self, records: Iterable[EventRecord]) -> list[WriteResult]:
        """Store deliveries from plain threads (tools, tests), one transaction."""
        return self.store.write_events(list(records))

    def _run(self) -> None:
        try:
            self.store.prepare_event_writes(self.max_batch)
        except Exception as exc:  # the first batches compile what they need instead
            log.warning("event writer: statements not prepared ahead: %s", _first_line(exc))
        carried: list[_Job] = []
        # PostgreSQL: one connection kept while deliveries keep coming (SQLite has no ping to
        # save, and a vanished file must be reopened, which a held connection would not see).
        held = HeldConnection(self.store) if self.store.dialect == "postgresql" else None
        while True:
            waiting = carried or self._next_deliveries(held)
            while len(waiting) < self.max_batch:
                try:
                    waiting.extend(self._queue.get_nowait())
                except queue.Empty:
                    break
            batch, carried = waiting[: self.max_batch], waiting[self.max_batch :]
            # A caller that already gave up was answered 503 and Lean will deliver again.
            now = time.monotonic()
            live = [job for job in batch if job.deadline > now]
            outcomes: list[_Outcome] = [
                (job, None, StoreUnavailable("the store did not commit in time"))
                for job in batch
                if job.deadline <= now
            ]
            if live:
                self.batches += 1
                if self._checkpointer is not None and not self._checkpointer.running:
                    self._checkpointer.start()
                try:
                    outcomes.extend(self._write_batch(live, held))
                except BaseException as exc:  # the writer must outlive anything
                    log.exception("event writer: unexpected failure")
                    error = StoreUnavailable(f"{type(exc).__name__} in the writer")
                    outcomes.extend((job, None, error) for job in live)
                note_ingest(len(live))  # background writers give way to a burst
            _settle(outcomes)

    def _next_deliveries(self, held: HeldConnection | None) -> list[_Job]:
        """What the event loops handed over next, waiting as long as it takes; the held
        connection goes back to the pool after a second without deliveries."""
        if held is None:
            return list(self._queue.get())
        try:
            return list(self._queue.get(timeout=HELD_IDLE_SECONDS))
        except queue.Empty:
            held.release()
            return list(self._queue.get())

    def _write_batch(self, batch: list[_Job], held: HeldConnection | None = None) -> list[_Outcome]:
        try:
            results = self.store.write_events([job.record for job in batch], held=held)
        except StoreUnavailable as exc:
            # The database itself failed: every record in the batch waits for Lean's retry.
            self.last_failure = time.monotonic()
            return [(job, None, exc) for job in batch]
        except Exception:
            # Some record was refused for its content: write each alone to find it.
            return [(job, *self._write_alone(job.record)) for job in batch]
        self.last_failure = None
        return [(job, result, None) for job, result in zip(batch, results, strict=True)]

    def _write_alone(self, record: EventRecord) -> tuple[WriteResult | None, Exception | None]:
        try:
            return self.store.write_events([record])[0], None
        except StoreUnavailable as exc:
            return None, exc
        except Exception as exc:
            reason = f"the event store refused the event: {_first_line(exc)}"
            log.error("event %r kept as a dead letter: %s", record.event_id[:80], reason)
            try:
                self.store.record_dead_letter(
                    source_ip=record.source_ip,
                    reason=reason,
                    verified=record.verified,
                    body=record.payload.encode("utf-8", "replace"),
                    received_at=record.received_at,
                )
            except StoreUnavailable as down:
                return None, down
            except Exception as again:
                log.exception("dead letter refused too")
                return None, StoreUnavailable(f"could not keep the event: {_first_line(again)}")
            return WriteResult(record.event_id, 1, dead_letter_reason=reason), None


class _WalCheckpointer:
    """Copies SQLite's WAL back into the database from a thread of its own (PASSIVE: it never
    waits for, nor blocks, the writer or the screens), while the writer keeps committing.

    Without it the commit that crosses `wal_autocheckpoint` does the copying and its fsync, and
    every delivery waiting on that commit waits too: the SQLite p99 under load. Under a steady
    stream of commits the WAL is never wholly copied between two of them, so that commit still
    comes; checkpointing often keeps what it must copy and fsync small (fsync here costs ~1.6 ms
    per MB: at 0.25 s the stall was 50–65 ms every ~1 s under wrk, at 0.05 s 25–40 ms).
    """

    def __init__(
        self, writer: EventWriter, every_seconds: float = 0.05, idle_seconds: float = 30.0
    ) -> None:
        self.writer = writer
        self.every_seconds = every_seconds
        self.idle_seconds = idle_seconds
        self.checkpoints = 0
        self.running = False

    def start(self) -> None:
        """Run until nothing has been written for `idle_seconds` (the writer starts it again
        with its next batch): a daemon thread."""
        self.running = True
        threading.Thread(target=self._run, name="wal-checkpoint", daemon=True).start()

    def _run(self) -> None:
        seen = -1
        idle_until = time.monotonic() + self.idle_seconds
        while True:
            time.sleep(self.every_seconds)
            if self.writer.batches == seen:
                if time.monotonic() < idle_until:
                    continue  # nothing written since the last checkpoint
                self.running = False
                if self.writer.batches == seen:
                    return
                self.running = True  # a batch came in just now: carry on
            seen = self.writer.batches
            idle_until = time.monotonic() + self.idle_seconds
            path = self.writer.store._sqlite_path
            if path is None or not path.exists():
                continue  # in memory, or gone: connecting would create an empty file
            try:
                with self.writer.store.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                self.checkpoints += 1
            except Exception as exc:  # the database's trouble is the writer's to report
                log.debug("WAL checkpoint skipped: %s", _first_line(exc))


@dataclass(slots=True)
class _Job:
    record: EventRecord
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[WriteResult]
    deadline: float


_Outcome = tuple[_Job, WriteResult | None, Exception | None]


def _settle(outcomes: list[_Outcome]) -> None:
    """Answer each waiting caller: one wake-up per event loop for the whole batch, not one per
    delivery (each wake-up is a write to the loop's self-pipe and a turn of the GIL)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, settled in by_loop.items():
        # RuntimeError: that loop has closed, nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_set_results, settled)


def _set_results(outcomes: list[_Outcome]) -> None:
    for job, result, error in outcomes:
        if job.future.done():
            continue  # the caller gave up (timeout) and was answered 503
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)  # type: ignore[arg-type]
