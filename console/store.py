"""The durable store of webhook events, rejected deliveries and dead letters.

SQLAlchemy Core over SQLite (WAL; the default, a file under `data/`) or PostgreSQL
(`DATABASE_URL`). The schema is created and migrated on first use. Every event keeps its raw body
beside extracted, indexed columns for filtering. "Current state" is always derived by Lean's
timestamp, never by arrival order.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'data' / 'console.db'}"
SCHEMA_VERSION = 1

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
for _column in (
    "type",
    "customer_id",
    "entity_id",
    "app_user_id",
    "bank_identifier",
    "refresh_id",
    "status",
    "lean_timestamp",
    "received_at",
):
    Index(f"ix_webhook_events_{_column}", events.c[_column])

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
)

meta = Table(
    "console_meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)


# What the screens read of an event (everything but the surrogate key), and when it happened:
# Lean's timestamp, or arrival when Lean gave none.
EVENT_COLUMNS = [c for c in events.c if c.name != "id"]
OCCURRED = func.coalesce(events.c.lean_timestamp, events.c.received_at)


class StoreUnavailable(Exception):
    """The database could not take the write (down, locked, full); the caller should retry."""


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
    customer_id: str | None = None
    entity_id: str | None = None
    app_user_id: str | None = None
    bank_identifier: str | None = None
    refresh_id: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class WriteResult:
    """What the store did with a delivery."""

    event_id: str
    delivery_count: int

    @property
    def duplicate(self) -> bool:
        """True when the event had been stored before."""
        return self.delivery_count > 1


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

    @property
    def occurred_at(self) -> datetime:
        """When it happened by Lean's clock, else when it first arrived."""
        return self.lean_timestamp or self.received_at


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_naive(value: datetime | None) -> datetime | None:
    # SQLite has no time zones: everything is stored as naive UTC, on both backends alike.
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


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
        self.engine: Engine = _create_engine(self.url, busy_timeout_ms, lock_timeout_ms)
        self.dialect = self.engine.dialect.name
        self._migrated = False
        self._migrate_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EventStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- schema ---------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create or upgrade the schema to `SCHEMA_VERSION` (idempotent, safe to call often)."""
        with self._migrate_lock:
            if self._migrated:
                return
            with self._connection(write=True) as conn:
                metadata.create_all(conn, tables=[meta], checkfirst=True)
                current = int(
                    conn.execute(
                        select(meta.c.value).where(meta.c.key == "schema_version")
                    ).scalar()
                    or 0
                )
                for version, step in MIGRATIONS:
                    if version > current:
                        log.info("migrating event store to schema %d", version)
                        step(conn)
                        _set_meta(conn, "schema_version", str(version))
            self._migrated = True

    def ping(self) -> None:
        """Raise `StoreUnavailable` unless the database answers."""
        with self._connection() as conn:
            conn.execute(select(literal(1)))

    @contextmanager
    def _connection(self, *, write: bool = False) -> Iterator[Connection]:
        """A connection (in a committed transaction when `write`); database failures become
        `StoreUnavailable`, the one error callers handle."""
        try:
            with self.engine.begin() if write else self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreUnavailable(str(exc).splitlines()[0]) from exc

    # -- writes ---------------------------------------------------------------------------------

    def write_events(self, records: Sequence[EventRecord]) -> list[WriteResult]:
        """Store deliveries in one transaction: new events inserted, repeats counted."""
        self.migrate()
        with self._connection(write=True) as conn:
            return [self._upsert(conn, record) for record in records]

    def _upsert(self, conn: Connection, record: EventRecord) -> WriteResult:
        values = {**record.__dict__}
        values["lean_timestamp"] = _utc_naive(record.lean_timestamp)
        values["received_at"] = values["last_received_at"] = _utc_naive(record.received_at)
        values["delivery_count"] = 1
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(
            events
        ).values(**values)
        statement = insert.on_conflict_do_update(
            index_elements=[events.c.event_id],
            set_={
                "delivery_count": events.c.delivery_count + 1,
                "last_received_at": func.max(
                    events.c.last_received_at, insert.excluded.last_received_at
                )
                if self.dialect == "sqlite"
                else func.greatest(events.c.last_received_at, insert.excluded.last_received_at),
                # A later delivery may carry a valid signature an earlier one lacked.
                "verified": events.c.verified | insert.excluded.verified
                if self.dialect == "postgresql"
                else func.max(events.c.verified, insert.excluded.verified),
            },
        ).returning(events.c.delivery_count)
        count = conn.execute(statement).scalar_one()
        return WriteResult(record.event_id, int(count))

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
        self.migrate()
        with self._connection(write=True) as conn:
            conn.execute(
                rejections.insert().values(
                    received_at=_utc_naive(received_at or datetime.now(UTC)),
                    source_ip=source_ip,
                    status_code=status_code,
                    reason=reason[:300],
                    size=size,
                    signature=(signature or "")[:300] or None,
                )
            )

    def record_dead_letter(
        self,
        *,
        source_ip: str | None,
        reason: str,
        verified: bool,
        body: bytes,
        received_at: datetime | None = None,
    ) -> None:
        """Keep a delivery that could not be read, body included, for a human to look at."""
        self.migrate()
        with self._connection(write=True) as conn:
            conn.execute(
                dead_letters.insert().values(
                    received_at=_utc_naive(received_at or datetime.now(UTC)),
                    source_ip=source_ip,
                    reason=reason[:300],
                    verified=verified,
                    size=len(body),
                    body=body.decode("utf-8", "replace").replace("\x00", "\ufffd"),
                )
            )

    # -- reads ----------------------------------------------------------------------------------

    def _where(self, flt: EventFilter) -> Any:
        conditions = []
        if flt.types:
            conditions.append(events.c.type.in_(flt.types))
        for name in ("customer_id", "entity_id", "app_user_id", "bank_identifier", "refresh_id"):
            value = getattr(flt, name)
            if value:
                conditions.append(events.c[name] == value)
        if flt.since:
            conditions.append(_utc_naive(flt.since) <= OCCURRED)
        if flt.until:
            conditions.append(_utc_naive(flt.until) > OCCURRED)
        if flt.text and flt.text.strip():
            needle = (
                "%"
                + flt.text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            conditions.append(
                or_(
                    events.c.payload.ilike(needle, escape="\\"),
                    events.c.event_id.ilike(needle, escape="\\"),
                    events.c.type.ilike(needle, escape="\\"),
                )
            )
        return and_(*conditions) if conditions else literal(True)

    def query_events(
        self, flt: EventFilter = EventFilter(), *, limit: int = 50, offset: int = 0
    ) -> list[StoredEvent]:
        """Events matching `flt`, newest (by Lean's timestamp) first."""
        self.migrate()
        statement = (
            select(*EVENT_COLUMNS)
            .where(self._where(flt))
            .order_by(OCCURRED.desc(), events.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._connection() as conn:
            return [_stored(row) for row in conn.execute(statement).mappings()]

    def count_events(self, flt: EventFilter = EventFilter()) -> int:
        """How many events match `flt`."""
        self.migrate()
        with self._connection() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(events).where(self._where(flt))
                ).scalar_one()
            )

    def get_event(self, event_id: str) -> StoredEvent | None:
        """One event by its id."""
        self.migrate()
        statement = select(*EVENT_COLUMNS).where(events.c.event_id == event_id)
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
        """Banks that appear in events."""
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
            .order_by(
                OCCURRED.desc(),
                events.c.id.desc(),
            )
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
        """Rows in `webhook_rejections` or `webhook_dead_letters`."""
        self.migrate()
        table = {"rejections": rejections, "dead_letters": dead_letters, "events": events}[name]
        with self._connection() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def export_csv(self, flt: EventFilter, *, max_rows: int = 100_000) -> str:
        """The filtered inbox as CSV (payload included), newest first, at most `max_rows` rows."""
        buffer = io.StringIO()
        columns = [
            "event_id", "type", "lean_timestamp", "received_at", "last_received_at", "delivery_count", "verified",
            "customer_id", "entity_id", "app_user_id", "bank_identifier", "refresh_id", "status", "source_ip", "payload",
        ]  # fmt: skip
        writer = csv.writer(buffer)
        writer.writerow(columns)
        offset = 0
        while offset < max_rows:
            batch = self.query_events(flt, limit=min(5000, max_rows - offset), offset=offset)
            for item in batch:
                writer.writerow([_csv_value(getattr(item, c)) for c in columns])
            if len(batch) < 5000:
                break
            offset += len(batch)
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


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


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
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    options = f"-c lock_timeout={lock_timeout_ms}" if lock_timeout_ms else None
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if options:
        connect_args["options"] = options
    return create_engine(
        url, pool_size=5, max_overflow=5, pool_pre_ping=True, connect_args=connect_args
    )


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (
        1,
        lambda conn: metadata.create_all(
            conn, tables=[events, rejections, dead_letters], checkfirst=True
        ),
    ),
]


# ---------------------------------------------------------------------------------------------
# Group commit
# ---------------------------------------------------------------------------------------------


class EventWriter:
    """Serialises writes through one thread and commits whatever is waiting in one transaction.

    A commit per request caps throughput at what fsync allows; here concurrent deliveries share a
    commit, and each caller is answered only after the commit that holds its event.
    """

    def __init__(self, store: EventStore, *, max_batch: int = 256) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.Queue[
            tuple[EventRecord, Callable[[WriteResult | None, Exception | None], None]]
        ] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
                self._thread.start()

    async def write(self, record: EventRecord, timeout: float = 8.0) -> WriteResult:
        """Store one delivery; returns after its transaction committed, or raises `StoreUnavailable`."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WriteResult] = loop.create_future()

        def done(result: WriteResult | None, error: Exception | None) -> None:
            def settle() -> None:
                if future.done():
                    return
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)  # type: ignore[arg-type]

            loop.call_soon_threadsafe(settle)

        self._queue.put((record, done))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise StoreUnavailable(f"the store did not commit within {timeout:.0f} s") from None

    def write_sync(self, records: Iterable[EventRecord]) -> list[WriteResult]:
        """Store deliveries from plain threads (tools, tests), one transaction."""
        return self.store.write_events(list(records))

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self.batches += 1
            try:
                results = self.store.write_events([record for record, _ in batch])
            except StoreUnavailable as exc:
                if len(batch) == 1:
                    batch[0][1](None, exc)
                    continue
                # One bad record must not fail its neighbours: retry each on its own.
                for record, done in batch:
                    try:
                        done(self.store.write_events([record])[0], None)
                    except StoreUnavailable as single:
                        done(None, single)
                continue
            for (_, done), result in zip(batch, results, strict=True):
                done(result, None)
