"""The book index: every customer, bank connection (entity) and consent, kept in the store.

Book-wide questions ("who must reconnect?", "which consents expire this month?") must not cost a
Lean call per customer. The index is fed two ways:

- an indexer thread tails the stored `entity.created` / `entity.updated` webhooks by row id (its
  cursor is kept in `console_meta`), so the receiver's hot path is untouched; the same pass feeds
  `entity.data.refresh.updated` webhooks to the refresh index (`console.refresh_index`);
- a sync walks Lean's customer listing and its entities-by-date-range listing, page by page,
  saving its cursor after every page: it resumes where it stopped and waits out rate limits.

Rows follow Lean's timestamps, never arrival order: an older update never overwrites a newer one,
and applying the same update twice changes nothing. No Streamlit here; the screens' questions
are in `console.book_queries`.

`python -m console.book sync` runs a sync from the terminal and prints its progress.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from console.background import BackgroundLoop, ingest_busy, yield_seconds
from console.refresh_index import (
    REFRESH_EVENT,
    UnreadableRefresh,
    apply_refresh_states,
    backfill_bank,
    read_refresh,
)
from console.store import (
    EventStore,
    StoreUnavailable,
    _aware,
    _fit_row,
    _set_meta,
    _utc_naive,
    events,
    fit,
    index_consents,
    index_customers,
    index_entities,
    index_sync_runs,
    meta,
)
from lean_api import LeanClient, LeanSettings
from lean_api.errors import (
    APIConnectionError,
    LeanError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from lean_api.models import Consent, Entity

log = logging.getLogger(__name__)

ENTITY_TYPES = ("entity.created", "entity.updated")
INDEXED_TYPES = (*ENTITY_TYPES, REFRESH_EVENT)
CURSOR_KEY = "book_indexer_cursor"
APPLIED_KEY = "book_indexer_applied"
SKIPPED_KEY = "book_indexer_skipped"
LAST_APPLIED_KEY = "book_indexer_last_applied_at"
# Consent words after which Lean fetches nothing until the customer reconnects.
RECONNECT_WORDS = frozenset({"EXPIRED", "REVOKED", "SUSPENDED", "REJECTED"})
DEFAULT_SYNC_SINCE = date(2022, 1, 1)
SYNC_INTERVAL = timedelta(hours=6)
STARTUP_DELAY_SECONDS = 15.0
# A run whose heartbeat is older than this was cut off (process killed): it may be resumed. Longer
# than the longest rate-limit wait, during which a live run writes no heartbeat.
STALE_RUN = timedelta(minutes=10)
# PostgreSQL advisory lock held by every transaction that writes the book index.
BOOK_WRITE_LOCK = 7320152

C, E, K, R = index_customers, index_entities, index_consents, index_sync_runs


def _now() -> datetime:
    return datetime.now(UTC)


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


@contextmanager
def book_transaction(store: EventStore) -> Iterator[Connection]:
    """A write transaction on the book index, serialised with every other one on PostgreSQL.

    The indexer and the sync (and several processes' indexers) write the same customers,
    entities and daily rollup rows in different orders, and PostgreSQL aborted one of two such
    transactions as a deadlock. Worse, a refresh the indexer applied while a sync's entity was
    not yet committed took no bank, and the sync's back-fill, already past, never gave it one.
    Taken first, before any row: under it, each statement sees what the one before committed.
    SQLite has one writer at a time already.
    """
    with store.connect(write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BOOK_WRITE_LOCK})
        yield conn


def _inserted(conn: Connection, statement: Any) -> bool:
    """Run an INSERT … ON CONFLICT DO NOTHING; True when it added the row.

    Asked through RETURNING: psycopg reports no row count for it.
    """
    table = statement.table
    key = next(iter(table.primary_key.columns))
    return conn.execute(statement.returning(key)).first() is not None


def _newer_or_same(column: Any, ns_column: Any | None, stamp: datetime | None, ns: int = 0) -> Any:
    """SQL: the incoming Lean `stamp` is at least as new as the row's.

    A stamp-less update never overrides a stamped row; equal stamps apply again (idempotent).
    """
    if stamp is None:
        return column.is_(None)
    same = column == stamp
    if ns_column is not None:
        same = and_(same, ns_column <= ns)
    return or_(column.is_(None), column < stamp, same)


def _permissions_json(permissions: dict[str, bool]) -> str:
    return json.dumps(sorted(name for name, granted in permissions.items() if granted))


# ---------------------------------------------------------------------------------------------
# Writing to the index (one connection, inside the caller's transaction)
# ---------------------------------------------------------------------------------------------


def upsert_customer(
    conn: Connection,
    customer_id: str,
    app_user_id: str | None,
    *,
    seen_at: datetime,
    updated_at: datetime | None = None,
) -> None:
    """Add a customer, or note that it was seen again (app_user_id kept once known)."""
    seen = _utc_naive(seen_at)
    stamp = _utc_naive(updated_at)
    row = _fit_row(
        C,
        {
            "customer_id": customer_id.lower(),
            "app_user_id": app_user_id,
            "first_seen_at": seen,
            "last_seen_at": seen,
            "updated_at": stamp,
        },
    )
    inserted = _inserted(
        conn,
        _insert(conn)(C).values(**row).on_conflict_do_nothing(index_elements=[C.c.customer_id]),
    )
    if inserted:
        return
    changes: dict[str, Any] = {"last_seen_at": seen}
    if row["app_user_id"] is not None:
        changes["app_user_id"] = row["app_user_id"]
    if stamp is not None:
        changes["updated_at"] = case(
            (or_(C.c.updated_at.is_(None), C.c.updated_at < stamp), stamp),
            else_=C.c.updated_at,
        )
    conn.execute(C.update().where(C.c.customer_id == row["customer_id"]).values(**changes))


def upsert_entity(
    conn: Connection,
    entity: Entity,
    *,
    stamp: datetime | None,
    stamp_ns: int = 0,
    seen_at: datetime,
    customer_id: str | None = None,
    bank_name: str | None = None,
    consent_changed: bool = False,
    synced: bool = False,
) -> bool:
    """Apply one view of an entity; True when it was the newest yet (by Lean's `stamp`).

    Fields this view does not carry (webhooks have no status or consents) are left as they are.
    Consents, when given, are applied one by one by their own status-update times.
    """
    entity_id = entity.id.lower()
    owner = (customer_id or entity.customer_id or "").lower()
    if not owner:
        raise ValueError("the entity names no customer_id")
    seen = _utc_naive(seen_at)
    stamp = _utc_naive(stamp)
    stamp_ns = min(max(stamp_ns, 0), 999)
    carried = {
        "customer_id": owner,
        "bank_identifier": entity.bank_identifier,
        "bank_name": bank_name or (entity.bank_details.name if entity.bank_details else None),
        "status": entity.status,
        "permissions": _permissions_json(entity.permissions) if entity.permissions else None,
    }
    carried = {k: v for k, v in _fit_row(E, carried).items() if v is not None}
    created = _utc_naive(entity.created_at)
    row = {
        "entity_id": fit(entity_id, 64),
        **carried,
        "created_at": created,
        "updated_at": stamp,
        "updated_at_ns": stamp_ns,
        "last_seen_at": seen,
        "consent_changed_at": stamp if consent_changed else None,
        "synced_at": seen if synced else None,
    }
    inserted = _inserted(
        conn, _insert(conn)(E).values(**row).on_conflict_do_nothing(index_elements=[E.c.entity_id])
    )
    newest = bool(inserted)
    if not inserted:
        newest = bool(
            conn.execute(
                E.update()
                .where(
                    E.c.entity_id == row["entity_id"],
                    _newer_or_same(E.c.updated_at, E.c.updated_at_ns, stamp, stamp_ns),
                )
                .values(**carried, updated_at=stamp, updated_at_ns=stamp_ns)
            ).rowcount
        )
        always: dict[str, Any] = {"last_seen_at": seen}
        if created is not None:
            # Lean's own creation time (the sync) wins over a webhook's guess.
            always["created_at"] = created if synced else func.coalesce(E.c.created_at, created)
        if synced:
            always["synced_at"] = seen
        if consent_changed and stamp is not None:
            always["consent_changed_at"] = case(
                (or_(E.c.consent_changed_at.is_(None), E.c.consent_changed_at < stamp), stamp),
                else_=E.c.consent_changed_at,
            )
        conn.execute(E.update().where(E.c.entity_id == row["entity_id"]).values(**always))
    if entity.consents:
        for consent in entity.consents:
            upsert_consent(conn, row["entity_id"], consent, seen_at=seen_at)
        _refresh_current_consent(conn, row["entity_id"])
    if carried.get("bank_identifier"):
        # Refreshes indexed before their entity was known take its bank now.
        backfill_bank(conn, row["entity_id"], carried["bank_identifier"])
    return newest


def consent_key(consent: Consent) -> str:
    """The consent's id, or a stable stand-in when Lean gave none."""
    if consent.id:
        return consent.id
    if consent.bank_consent_id:
        return "bank:" + hashlib.sha256(consent.bank_consent_id.encode()).hexdigest()[:40]
    created = consent.creation_date_time.isoformat() if consent.creation_date_time else "?"
    return "created:" + created[:50]


def upsert_consent(
    conn: Connection, entity_id: str, consent: Consent, *, seen_at: datetime
) -> bool:
    """Apply one consent; True when this view was the newest yet (by its status-update time)."""
    stamp = _utc_naive(consent.status_update_date_time)
    values = _fit_row(
        K,
        {
            "bank_consent_id": consent.bank_consent_id,
            "status": consent.consent_status,
            "created_at": _utc_naive(consent.creation_date_time),
            "status_updated_at": stamp,
            "expires_at": _utc_naive(consent.expiration_date_time),
            "transactions_from": _utc_naive(consent.transaction_from_date_time),
            "transactions_to": _utc_naive(consent.transaction_to_date_time),
            "permissions": _permissions_json(consent.permissions),
            "last_seen_at": _utc_naive(seen_at),
        },
    )
    key = {"entity_id": entity_id, "consent_id": fit(consent_key(consent), 64)}
    inserted = _inserted(
        conn,
        _insert(conn)(K)
        .values(**key, **values)
        .on_conflict_do_nothing(index_elements=[K.c.entity_id, K.c.consent_id]),
    )
    if inserted:
        return True
    return bool(
        conn.execute(
            K.update()
            .where(
                K.c.entity_id == key["entity_id"],
                K.c.consent_id == key["consent_id"],
                _newer_or_same(K.c.status_updated_at, None, stamp),
            )
            .values(**values)
        ).rowcount
    )


def _refresh_current_consent(conn: Connection, entity_id: str) -> None:
    """Copy the entity's current consent (the newest by creation) onto the entity row."""
    current = (
        conn.execute(
            select(K.c.consent_id, K.c.status, K.c.expires_at)
            .where(K.c.entity_id == entity_id)
            .order_by(K.c.created_at.is_(None).asc(), K.c.created_at.desc(), K.c.consent_id)
            .limit(1)
        )
        .mappings()
        .first()
    )
    if current:
        conn.execute(
            E.update()
            .where(E.c.entity_id == entity_id)
            .values(
                consent_id=current["consent_id"],
                consent_status=current["status"],
                consent_expires_at=current["expires_at"],
            )
        )


# ---------------------------------------------------------------------------------------------
# The indexer: stored entity webhooks -> the index
# ---------------------------------------------------------------------------------------------


class SkipEvent(ValueError):
    """This event cannot update the index (unreadable, no entity id); it is counted and passed."""


def apply_event_row(conn: Connection, row: Any) -> None:
    """Apply one stored entity or refresh event to the index."""
    if row["type"] == REFRESH_EVENT:
        apply_refresh_states(conn, [_read_refresh(row)])
        return
    try:
        body = json.loads(row["payload"])
    except ValueError:
        raise SkipEvent("the stored body is not JSON") from None
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, dict):
        raise SkipEvent("the event has no payload object")
    try:
        entity = Entity.model_validate(payload)
    except ValueError as exc:
        raise SkipEvent(f"the payload is not an entity: {str(exc).splitlines()[0]}") from None
    customer_id = entity.customer_id or row["customer_id"]
    if not customer_id or not entity.id:
        raise SkipEvent("the entity names no customer_id or id")
    seen = _aware(row["received_at"]) or _now()
    stamp = _aware(row["lean_timestamp"])
    upsert_customer(
        conn, customer_id, entity.app_user_id or row["app_user_id"], seen_at=seen, updated_at=stamp
    )
    if row["type"] == "entity.created" and entity.created_at is None and stamp is not None:
        entity = entity.model_copy(update={"created_at": stamp})
    upsert_entity(
        conn,
        entity,
        stamp=stamp,
        stamp_ns=int(row["lean_timestamp_ns"] or 0),
        seen_at=seen,
        customer_id=customer_id,
        consent_changed=row["type"] == "entity.updated",
    )


def _read_refresh(row: Any) -> Any:
    try:
        return read_refresh(row)
    except UnreadableRefresh as exc:
        raise SkipEvent(str(exc)) from None


@dataclass
class IndexerCounts:
    """What one pass of the indexer did."""

    applied: int = 0
    skipped: int = 0


def apply_event_rows(conn: Connection, rows: list[Any]) -> IndexerCounts:
    """Apply a batch of stored events: entity events one by one, then the refresh events
    together (their banks then come from the entities just applied). Unreadable events are
    counted as skipped and logged; nothing is written for them."""
    counts = IndexerCounts()
    refreshes = []
    for row in rows:
        try:
            # Raised before anything is written: the transaction stays clean.
            if row["type"] == REFRESH_EVENT:
                refreshes.append(_read_refresh(row))
            else:
                apply_event_row(conn, row)
            counts.applied += 1
        except SkipEvent as exc:
            counts.skipped += 1
            log.warning("book index: event row %s skipped: %s", row["id"], exc)
    apply_refresh_states(conn, refreshes)
    return counts


class BookIndexer(BackgroundLoop):
    """Tails the stored entity and refresh webhooks into the indexes; survives any event and any
    outage."""

    thread_name = "book-indexer"

    def __init__(
        self,
        store: EventStore,
        *,
        batch: int = 500,
        busy_batch: int = 50,
        idle_seconds: float = 2.0,
        settle_seconds: float = 10.0,
    ) -> None:
        self.store = store
        self.batch = batch
        # While deliveries are arriving (`console.background.ingest_busy`), the background loop
        # applies smaller batches and pauses after each, so the receiver's commits do not wait
        # behind a long write transaction for SQLite's lock.
        self.busy_batch = busy_batch
        self.idle_seconds = idle_seconds
        # Row ids are handed out before commit: with concurrent writers (PostgreSQL, several
        # receivers) a lower id can become visible after a higher one. The cursor stops before
        # rows younger than this, so a write still committing is not stepped over.
        self.settle_seconds = settle_seconds
        super().__init__()

    def apply_pending(self, *, courteous: bool = False) -> IndexerCounts:
        """Apply every event stored since the cursor; returns what was done.

        `courteous` (the background loop): small batches and a pause after each while
        deliveries are arriving; stops early when told to stop."""
        total = IndexerCounts()
        while True:
            busy = courteous and ingest_busy()
            started = time.monotonic()
            rows = self._settled(self._next_batch(self.busy_batch if busy else self.batch))
            if not rows:
                return total
            counts = self._apply(rows)
            total.applied += counts.applied
            total.skipped += counts.skipped
            if courteous and self._stop.wait(yield_seconds(time.monotonic() - started)):
                return total

    def _settled(self, rows: list[Any]) -> list[Any]:
        """The rows up to (not including) the first one stored less than `settle_seconds` ago."""
        young = _now() - timedelta(seconds=self.settle_seconds)
        for position, row in enumerate(rows):
            if (_aware(row["received_at"]) or young) > young:
                return rows[:position]
        return rows

    def _next_batch(self, limit: int) -> list[Any]:
        with self.store.connect() as conn:
            cursor = int(
                conn.execute(select(meta.c.value).where(meta.c.key == CURSOR_KEY)).scalar() or 0
            )
            statement = (
                select(
                    events.c.id,
                    events.c.event_id,
                    events.c.type,
                    events.c.payload,
                    events.c.lean_timestamp,
                    events.c.lean_timestamp_ns,
                    events.c.received_at,
                    events.c.customer_id,
                    events.c.entity_id,
                    events.c.refresh_id,
                    events.c.app_user_id,
                )
                .where(events.c.id > cursor, events.c.type.in_(INDEXED_TYPES))
                .order_by(events.c.id)
                .limit(limit)
            )
            return list(conn.execute(statement).mappings())

    def _apply(self, rows: list[Any]) -> IndexerCounts:
        try:
            # The usual case: the whole batch and the cursor in one transaction.
            with book_transaction(self.store) as conn:
                rows = self._not_applied(conn, rows)
                if not rows:
                    return IndexerCounts()
                counts = apply_event_rows(conn, rows)
                self._advance(conn, rows[-1]["id"], counts)
            return counts
        except StoreUnavailable:
            raise
        except Exception:
            log.exception("book index: a batch failed; applying its events one by one")
        counts = IndexerCounts()
        for row in rows:
            one = IndexerCounts()
            try:
                with book_transaction(self.store) as conn:
                    if not self._not_applied(conn, [row]):
                        continue
                    apply_event_row(conn, row)
                    one.applied = 1
                    self._advance(conn, row["id"], one)
            except StoreUnavailable:
                raise
            except Exception as exc:
                # A bad event must not stop the index: count it, log it, move past it.
                log.warning("book index: event row %s skipped: %s", row["id"], exc)
                one = IndexerCounts(skipped=1)
                with book_transaction(self.store) as conn:
                    self._advance(conn, row["id"], one)
            counts.applied += one.applied
            counts.skipped += one.skipped
        return counts

    @staticmethod
    def _not_applied(conn: Connection, rows: list[Any]) -> list[Any]:
        """The rows past the cursor, read in a `book_transaction`: several processes may run an
        indexer against one PostgreSQL, and the rollup's counts must not be added twice."""
        cursor = int(
            conn.execute(select(meta.c.value).where(meta.c.key == CURSOR_KEY)).scalar() or 0
        )
        return [row for row in rows if row["id"] > cursor]

    @staticmethod
    def _advance(conn: Connection, cursor: int, counts: IndexerCounts) -> None:
        values = dict(
            conn.execute(
                select(meta.c.key, meta.c.value).where(meta.c.key.in_((APPLIED_KEY, SKIPPED_KEY)))
            ).all()
        )
        _set_meta(conn, CURSOR_KEY, str(cursor))
        _set_meta(conn, APPLIED_KEY, str(int(values.get(APPLIED_KEY) or 0) + counts.applied))
        _set_meta(conn, SKIPPED_KEY, str(int(values.get(SKIPPED_KEY) or 0) + counts.skipped))
        if counts.applied:
            _set_meta(conn, LAST_APPLIED_KEY, _now().isoformat())

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._sitting_out():  # a burst of deliveries: up to 30 s behind
                continue
            try:
                self.apply_pending(courteous=True)
                self.courtesy.caught_up()
            except StoreUnavailable as exc:
                log.warning("book index: the store is unavailable (%s); retrying", exc)
            except BaseException:  # the indexer must outlive anything
                log.exception("book index: unexpected failure; retrying")
            self._stop.wait(self.idle_seconds)


# ---------------------------------------------------------------------------------------------
# The sync: Lean's listings -> the index
# ---------------------------------------------------------------------------------------------


class SyncAlreadyRunning(RuntimeError):
    """Another sync is running against this store."""


@dataclass(frozen=True)
class SyncProgress:
    """Where a sync run stands, as kept in the store."""

    run_id: int
    status: str
    phase: str
    cursor: dict[str, Any]
    customers_seen: int
    entities_seen: int
    pages: int
    rate_limit_waits: int
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    message: str | None

    def describe(self, *, with_message: bool = True) -> str:
        """One line for a terminal or a caption: what the sync is doing and has done.

        The message may quote Lean (an error): a screen shows it apart, literally.
        """
        page = int(self.cursor.get("page", 0)) + 1
        if self.phase == "customers":
            where = f"{self.status}, next: customers page {page}"
        elif self.phase == "entities":
            start = self.cursor.get("window_start")
            where = f"{self.status}, next: bank connections created from {start}, page {page}"
        else:
            where = "finished"
        text = (
            f"{where} · {self.customers_seen:,} customers, "
            f"{self.entities_seen:,} bank connections, {self.pages:,} pages"
        )
        if self.rate_limit_waits:
            text += f", {self.rate_limit_waits} rate-limit waits"
        if self.message and with_message:
            text += f" · {self.message}"
        return text


def _progress(row: Any) -> SyncProgress:
    return SyncProgress(
        run_id=int(row["id"]),
        status=row["status"],
        phase=row["phase"],
        cursor=json.loads(row["cursor"] or "{}"),
        customers_seen=int(row["customers_seen"]),
        entities_seen=int(row["entities_seen"]),
        pages=int(row["pages"]),
        rate_limit_waits=int(row["rate_limit_waits"]),
        started_at=_aware(row["started_at"]),  # type: ignore[arg-type]
        updated_at=_aware(row["updated_at"]),  # type: ignore[arg-type]
        finished_at=_aware(row["finished_at"]),
        message=row["message"],
    )


def latest_sync(store: EventStore, *, finished: bool = False) -> SyncProgress | None:
    """The latest sync run (or the latest that finished), if any."""
    statement = select(R).order_by(R.c.id.desc()).limit(1)
    if finished:
        statement = statement.where(R.c.status == "done")
    with store.connect() as conn:
        row = conn.execute(statement).mappings().first()
    return _progress(row) if row else None


def sync_client(settings: LeanSettings) -> LeanClient:
    """A client for the sync: it does its own waiting (rate limits, outages), so no retries here.
    Its calls go to the request log as the "book sync"'s, and to the metrics."""
    from console.metrics import observe_lean_call
    from console.request_log import record_calls
    from console.runtime import get_store, shared_tokens

    client = LeanClient(
        settings,
        max_retries=0,
        call_budget=max(settings.call_budget, 30.0),
        caller="book sync",
        tokens=shared_tokens(settings),
    )
    record_calls(client, get_store)
    client.add_observer(observe_lean_call)
    return client


_SYNC_LOCK = threading.Lock()


class BookSync:
    """Reconciles the index with Lean: customers, then entities created window by window.

    After every page the index rows and the run's cursor are committed together, so a run cut off
    anywhere resumes at the page it had not finished. A 429 is waited out (`Retry-After`, else
    5 s, at most `max_wait`) and the same page asked again; other passing failures (5xx, network)
    are retried a few times with backoff before the run is marked failed, to be resumed later.
    """

    def __init__(
        self,
        store: EventStore,
        client: LeanClient,
        *,
        page_size: int = 100,
        window_days: int = 31,
        since: date | None = None,
        max_wait: float = 300.0,
        transient_retries: int = 5,
        sleep: Callable[[float], None] | None = None,
        on_progress: Callable[[SyncProgress], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.page_size = page_size
        self.window_days = window_days
        self.since = since or _configured_since()
        self.max_wait = max_wait
        self.transient_retries = transient_retries
        self.stop = stop or threading.Event()
        self._sleep = sleep or (lambda seconds: self.stop.wait(seconds))
        self.on_progress = on_progress

    def run(self, *, fresh: bool = False) -> SyncProgress:
        """Run (or resume) a sync to the end; returns the finished run. Raises on failure, with
        the run kept as `failed` so the next call resumes it."""
        if not _SYNC_LOCK.acquire(blocking=False):
            raise SyncAlreadyRunning("a sync is already running in this console")
        try:
            progress = self._begin(fresh)
            try:
                while progress.phase != "done":
                    if self.stop.is_set():
                        self._mark_failed(progress.run_id, "stopped")
                        return replace(progress, status="failed", message="stopped")
                    progress = self._step(progress)
                return progress
            except BaseException as exc:
                message = _reason(exc)
                log.warning("book sync stopped: %s", message)
                self._mark_failed(progress.run_id, message)
                raise
        finally:
            _SYNC_LOCK.release()

    def _begin(self, fresh: bool) -> SyncProgress:
        now = _now()
        with self.store.connect(write=True) as conn:
            last = conn.execute(select(R).order_by(R.c.id.desc()).limit(1)).mappings().first()
            if last is not None and last["status"] != "done" and not fresh:
                previous = _progress(last)
                if previous.status == "running" and now - previous.updated_at < STALE_RUN:
                    raise SyncAlreadyRunning("another console is syncing this store right now")
                conn.execute(
                    R.update()
                    .where(R.c.id == previous.run_id)
                    .values(status="running", updated_at=_utc_naive(now), message="resumed")
                )
                log.info("book sync: resuming run %d at %s", previous.run_id, previous.cursor)
                return replace(previous, status="running", updated_at=now, message="resumed")
            if last is not None and last["status"] == "running":
                conn.execute(
                    R.update()
                    .where(R.c.id == last["id"])
                    .values(status="failed", message="replaced")
                )
            run_id = conn.execute(
                R.insert()
                .values(
                    started_at=_utc_naive(now),
                    updated_at=_utc_naive(now),
                    status="running",
                    phase="customers",
                    cursor=json.dumps({"page": 0}),
                    customers_seen=0,
                    entities_seen=0,
                    pages=0,
                    rate_limit_waits=0,
                )
                .returning(R.c.id)
            ).scalar_one()
        return SyncProgress(
            run_id=int(run_id), status="running", phase="customers", cursor={"page": 0},
            customers_seen=0, entities_seen=0, pages=0, rate_limit_waits=0,
            started_at=now, updated_at=now, finished_at=None, message=None,
        )  # fmt: skip

    def _step(self, progress: SyncProgress) -> SyncProgress:
        page_number = int(progress.cursor.get("page", 0))
        if progress.phase == "customers":
            page, progress = self._call(
                progress, lambda: self.client.list_customers(page_number, self.page_size)
            )
            seen = _now()

            def write(conn: Connection) -> None:
                for customer in page.items:
                    upsert_customer(conn, customer.customer_id, customer.app_user_id, seen_at=seen)

            if page.has_next:
                nxt = replace(progress, cursor={"page": page_number + 1})
            else:
                nxt = replace(
                    progress,
                    phase="entities",
                    cursor={"window_start": self.since.isoformat(), "page": 0},
                )
            nxt = replace(nxt, customers_seen=progress.customers_seen + len(page.items))
            return self._commit(nxt, write, message=None)

        start = date.fromisoformat(progress.cursor["window_start"])
        # One day past today: Lean may count dates in Riyadh's time, ahead of UTC.
        until = _now().date() + timedelta(days=1)
        end = min(start + timedelta(days=self.window_days - 1), until)
        page, progress = self._call(
            progress,
            lambda: self.client.list_entities_created(start, end, page_number, self.page_size),
        )
        seen = _now()

        def write_entities(conn: Connection) -> None:
            for entity in page.items:
                if not entity.customer_id:
                    continue
                upsert_customer(conn, entity.customer_id, entity.app_user_id, seen_at=seen)
                upsert_entity(conn, entity, stamp=entity.updated_at, seen_at=seen, synced=True)

        if page.has_next:
            nxt = replace(
                progress, cursor={"window_start": start.isoformat(), "page": page_number + 1}
            )
        elif end >= until:
            nxt = replace(progress, phase="done", status="done", finished_at=seen, cursor={})
        else:
            nxt = replace(
                progress, cursor={"window_start": (end + timedelta(days=1)).isoformat(), "page": 0}
            )
        nxt = replace(nxt, entities_seen=progress.entities_seen + len(page.items))
        return self._commit(nxt, write_entities, message=None)

    def _call(self, progress: SyncProgress, call: Callable[[], Any]) -> tuple[Any, SyncProgress]:
        """The page, after waiting out rate limits and passing failures; and the progress."""
        failures = 0
        waits = 0
        while True:
            try:
                return call(), progress
            except RateLimitError as exc:
                waits += 1
                if waits > 50:
                    raise
                delay = min(exc.retry_after if exc.retry_after is not None else 5.0, self.max_wait)
                delay = max(delay, 0.0)
                progress = self._save(
                    progress,
                    rate_limit_waits=progress.rate_limit_waits + 1,
                    message=f"Lean asked us to slow down (429): waiting {delay:g} s",
                )
                self._sleep(delay)
            except (ServerError, APIConnectionError) as exc:
                failures += 1
                if failures > self.transient_retries:
                    raise
                delay = min(2.0 ** (failures - 1), 30.0)
                self._save(progress, message=f"{_reason(exc)}: trying again in {delay:g} s")
                self._sleep(delay)
            if self.stop.is_set():
                raise InterruptedError("the sync was stopped")

    def _commit(
        self, progress: SyncProgress, write: Callable[[Connection], None], *, message: str | None
    ) -> SyncProgress:
        progress = replace(
            progress,
            pages=progress.pages + 1,
            updated_at=_now(),
            message=message,
        )
        with book_transaction(self.store) as conn:
            write(conn)
            self._update(conn, progress)
        if self.on_progress is not None:
            self.on_progress(progress)
        return progress

    def _mark_failed(self, run_id: int, message: str) -> None:
        # Only the status: the cursor stays at the last page committed.
        try:
            with self.store.connect(write=True) as conn:
                conn.execute(
                    R.update()
                    .where(R.c.id == run_id)
                    .values(
                        status="failed", message=fit(message, 300), updated_at=_utc_naive(_now())
                    )
                )
        except Exception:
            log.exception("book sync: could not note its failure")

    def _save(self, progress: SyncProgress, **changes: Any) -> SyncProgress:
        progress = replace(progress, updated_at=_now(), **changes)
        try:
            with self.store.connect(write=True) as conn:
                self._update(conn, progress)
        except Exception:
            log.exception("book sync: could not save its progress")
        if self.on_progress is not None:
            self.on_progress(progress)
        return progress

    @staticmethod
    def _update(conn: Connection, progress: SyncProgress) -> None:
        conn.execute(
            R.update()
            .where(R.c.id == progress.run_id)
            .values(
                status=progress.status,
                phase=progress.phase,
                cursor=json.dumps(progress.cursor),
                customers_seen=progress.customers_seen,
                entities_seen=progress.entities_seen,
                pages=progress.pages,
                rate_limit_waits=progress.rate_limit_waits,
                updated_at=_utc_naive(progress.updated_at),
                finished_at=_utc_naive(progress.finished_at),
                message=fit(progress.message, 300),
            )
        )


def refresh_changed_entities(store: EventStore, client: LeanClient, *, limit: int = 50) -> int:
    """Fetch the entities whose consents changed (entity.updated) since the sync last read them.

    Webhooks say *that* consents changed, not how: a customer who reconnected would otherwise
    stay "needs reconnect" until the next full sync. Returns how many were refreshed; stops
    quietly on a rate limit (the rest wait for the next call).
    """
    with store.connect() as conn:
        changed = conn.execute(
            select(E.c.entity_id, E.c.customer_id, E.c.consent_changed_at)
            .where(
                E.c.consent_changed_at.is_not(None),
                or_(E.c.synced_at.is_(None), E.c.synced_at < E.c.consent_changed_at),
            )
            .order_by(E.c.consent_changed_at)
            .limit(limit)
        ).all()
    refreshed = 0
    for entity_id, customer_id, changed_at in changed:
        try:
            entity = client.get_entity(customer_id, entity_id)
        except RateLimitError:
            break
        except NotFoundError:
            entity = None  # gone from Lean: noted as read, so it is not asked again and again
        seen = _now()
        with book_transaction(store) as conn:
            if entity is not None:
                upsert_entity(conn, entity, stamp=entity.updated_at, seen_at=seen, synced=True)
            # Read at or after the change, even with Lean's clock ahead of ours.
            conn.execute(
                E.update()
                .where(E.c.entity_id == entity_id)
                .values(synced_at=max(_utc_naive(seen), _utc_naive(_aware(changed_at))))  # type: ignore[type-var]
            )
        refreshed += 1
    return refreshed


def _reason(exc: BaseException) -> str:
    if isinstance(exc, LeanError):
        return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    return f"{type(exc).__name__}: {exc}"[:200]


def _configured_since() -> date:
    raw = os.environ.get("LEAN_BOOK_SYNC_SINCE", "").strip()
    try:
        return date.fromisoformat(raw) if raw else DEFAULT_SYNC_SINCE
    except ValueError:
        log.error("LEAN_BOOK_SYNC_SINCE=%r is not a date; using %s", raw[:20], DEFAULT_SYNC_SINCE)
        return DEFAULT_SYNC_SINCE


# ---------------------------------------------------------------------------------------------
# One service per process: the indexer, the periodic sync, "Sync now"
# ---------------------------------------------------------------------------------------------


class BookService:
    """The indexer thread and a sync every `interval` (the first at start when `sync_at_start`,
    else when the last finished sync is older than `interval`)."""

    def __init__(
        self,
        store: EventStore,
        settings: LeanSettings,
        *,
        interval: timedelta = SYNC_INTERVAL,
        sync_at_start: bool = False,
    ) -> None:
        self.store = store
        self.settings = settings
        self.interval = interval
        self.sync_at_start = sync_at_start
        self.indexer = BookIndexer(store)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.syncing = threading.Event()

    def start(self) -> BookService:
        """Start the indexer and the sync scheduler (daemon threads)."""
        self.indexer.start()
        if self._thread is None:
            self._thread = threading.Thread(target=self._schedule, name="book-sync", daemon=True)
            self._thread.start()
        return self

    def request_sync(self) -> bool:
        """Ask for a sync now; False when one is already running."""
        if self.syncing.is_set():
            return False
        if self._thread is None:
            self._thread = threading.Thread(target=self._schedule, name="book-sync", daemon=True)
            self._thread.start()
        self._wake.set()
        return True

    def stop(self) -> None:
        """Stop both threads (a running sync stops after its current page)."""
        self._stop.set()
        self._wake.set()
        self.indexer.stop()

    def _due(self) -> bool:
        if self._wake.is_set():
            return True
        try:
            last = latest_sync(self.store, finished=True)
        except StoreUnavailable:
            return False
        return (
            last is None or last.finished_at is None or _now() - last.finished_at >= self.interval
        )

    def _schedule(self) -> None:
        first = True
        # Let the start-up traffic (the sandbox's back-fill, the first screens) go first.
        self._wake.wait(STARTUP_DELAY_SECONDS)
        while not self._stop.is_set():
            if (first and self.sync_at_start) or self._due():
                self._wake.clear()
                self.run_once()
            else:
                self.refresh_changed()
            first = False
            self._wake.wait(60)

    def refresh_changed(self) -> None:
        """Between full syncs: re-read the entities whose consents changed (see
        `refresh_changed_entities`); failures wait for the next minute."""
        client = sync_client(self.settings)
        try:
            refresh_changed_entities(self.store, client)
        except (LeanError, StoreUnavailable) as exc:
            log.warning("book index: changed entities not refreshed now (%s)", _reason(exc))
        except Exception:
            log.exception("book index: changed entities not refreshed now")
        finally:
            client.close()

    def run_once(self) -> None:
        """One sync now, in this thread; failures are logged (the next run resumes)."""
        self.syncing.set()
        client = sync_client(self.settings)
        try:
            BookSync(self.store, client, stop=self._stop).run()
        except SyncAlreadyRunning as exc:
            log.info("book sync skipped: %s", exc)
        except BaseException:
            log.exception("book sync failed; the next one resumes where it stopped")
        finally:
            client.close()
            self.syncing.clear()


_services: dict[str, BookService] = {}
_services_lock = threading.Lock()


def book_service(
    store: EventStore, settings: LeanSettings, *, sync_at_start: bool = False
) -> BookService:
    """The process's service for `store` (created on first call, not started)."""
    with _services_lock:
        service = _services.get(store.url)
        if service is None:
            service = _services[store.url] = BookService(
                store, settings, sync_at_start=sync_at_start
            )
        return service


def start_book_service(store: EventStore, settings: LeanSettings, *, embedded: bool) -> BookService:
    """Start the indexer and the periodic sync (server start-up); embedded mode syncs at once."""
    return book_service(store, settings, sync_at_start=embedded).start()


def request_sync(store: EventStore, settings: LeanSettings) -> bool:
    """ "Sync now": start a sync in the background; False when one is already running."""
    return book_service(store, settings).request_sync()


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`python -m console.book sync [--fresh]`: reconcile the index with Lean, printing progress."""
    parser = argparse.ArgumentParser(prog="python -m console.book", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    sync_cmd = commands.add_parser("sync", help="reconcile the index with Lean's listings")
    sync_cmd.add_argument("--fresh", action="store_true", help="start over instead of resuming")
    sync_cmd.add_argument("--since", type=date.fromisoformat, help="first creation date to walk")
    commands.add_parser("status", help="how complete and fresh the index is")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from console.book_queries import index_status
    from console.runtime import get_backend, get_store

    store = get_store()
    if args.command == "status":
        status = index_status(store)
        print(
            f"{status.customers:,} customers, {status.entities:,} bank connections, "
            f"{status.consents:,} consents; {status.events_applied:,} webhook events applied, "
            f"{status.events_pending:,} pending"
        )
        if status.last_sync:
            print("last sync:", status.last_sync.describe())
        return 0
    backend = get_backend()
    client = sync_client(backend.settings)
    print(
        f"Syncing the book index from {backend.environment.label} ({backend.environment.api_url})"
    )

    def show(progress: SyncProgress) -> None:
        print(progress.describe(), flush=True)

    try:
        done = BookSync(store, client, since=args.since, on_progress=show).run(fresh=args.fresh)
    except SyncAlreadyRunning as exc:
        print(f"Not started: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted: the next sync resumes where this one stopped.", file=sys.stderr)
        return 130
    except (LeanError, StoreUnavailable, InterruptedError) as exc:
        print(f"Sync failed: {_reason(exc)} (the next sync resumes from here)", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(
        f"Done in {(done.updated_at - done.started_at).total_seconds():.0f} s · {done.describe()}"
    )
    BookIndexer(store).apply_pending()
    return 0


if __name__ == "__main__":
    sys.exit(main())
