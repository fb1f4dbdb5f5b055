"""The book index: webhooks into the index, the sync against the sandbox, the queue filters."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from console import book
from console import book_queries as queries
from console.book import BookIndexer, BookSync
from console.book_queries import QueueFilter
from console.store import (
    INDEX_TABLES,
    SCHEMA_VERSION,
    EventRecord,
    EventStore,
    index_consents,
    index_customers,
    index_entities,
    meta,
)
from lean_api import LeanClient, LeanSettings
from lean_api.models import Consent, Entity
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from tests.conftest import ANCHOR

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CUSTOMER = "6d1675c1-7671-47fd-9814-26123733ef91"
ENTITY = "37315b50-87b2-4009-b01b-9796a33ae06c"
SYNC_SINCE = ANCHOR.date() - timedelta(days=600)


@pytest.fixture
def index(store: EventStore) -> Iterator[EventStore]:
    """The store with an empty index (the PostgreSQL store fixture keeps only webhook tables clean)."""
    with store.engine.begin() as conn:
        for table in INDEX_TABLES:
            conn.execute(delete(table))
        conn.execute(delete(meta).where(meta.c.key.like("book_%")))
    yield store


def entity_event(
    event_id: str,
    event_type: str,
    at: datetime | None,
    *,
    entity_id: str = ENTITY,
    permissions: list[str] | None = None,
    ns: int = 0,
    bank: str = "RJHI_SAMAOB_SAU",
    body: str | None = None,
    customer: str = CUSTOMER,
) -> EventRecord:
    payload = {
        "type": event_type,
        "message": "An entity object has been updated.",
        "event_id": event_id,
        "timestamp": at.isoformat() if at else None,
        "payload": {
            "id": entity_id,
            "app_user_id": "usr_1",
            "customer_id": customer,
            "permissions": permissions if permissions is not None else ["accounts", "balance"],
            "bank_details": {"identifier": bank, "name": "Al Rajhi Bank"},
        },
    }
    text = body if body is not None else json.dumps(payload)
    return EventRecord(
        event_id=event_id,
        type=event_type,
        message=None,
        lean_timestamp=at,
        lean_timestamp_ns=ns,
        received_at=NOW,
        verified=True,
        source_ip=None,
        payload=text,
        size=len(text),
        customer_id=customer,
        entity_id=entity_id,
        app_user_id="usr_1",
        bank_identifier=bank,
    )


def entity_row(store: EventStore, entity_id: str = ENTITY) -> dict[str, Any]:
    with store.engine.connect() as conn:
        row = conn.execute(
            select(index_entities).where(index_entities.c.entity_id == entity_id)
        ).mappings()
        return dict(row.one())


# -- webhooks into the index ---------------------------------------------------------------------


def test_entity_webhooks_fill_the_index(index: EventStore) -> None:
    at = NOW - timedelta(days=3)
    index.write_events([entity_event("e1", "entity.created", at)])
    counts = BookIndexer(index).apply_pending()
    assert (counts.applied, counts.skipped) == (1, 0)
    row = entity_row(index)
    assert row["customer_id"] == CUSTOMER
    assert row["bank_identifier"] == "RJHI_SAMAOB_SAU" and row["bank_name"] == "Al Rajhi Bank"
    assert json.loads(row["permissions"]) == ["accounts", "balance"]
    assert row["created_at"].replace(tzinfo=UTC) == at
    with index.engine.connect() as conn:
        customer = conn.execute(select(index_customers)).mappings().one()
    assert customer["app_user_id"] == "usr_1"
    status = queries.index_status(index)
    assert (status.customers, status.entities, status.events_applied) == (1, 1, 1)
    assert status.events_pending == 0


def test_an_older_entity_update_never_overwrites_a_newer_one(index: EventStore) -> None:
    newer = NOW - timedelta(hours=1)
    index.write_events([entity_event("new", "entity.updated", newer, permissions=["accounts"])])
    BookIndexer(index).apply_pending()
    # Lean's retry of an older event arrives late, after the newer one.
    index.write_events(
        [entity_event("old", "entity.updated", newer - timedelta(days=2), permissions=["identity"])]
    )
    # Same microsecond, fewer nanoseconds: still older.
    index.write_events(
        [entity_event("same-us", "entity.updated", newer, ns=0, permissions=["balance"])]
    )
    BookIndexer(index).apply_pending()
    row = entity_row(index)
    assert json.loads(row["permissions"]) == ["balance"]  # equal stamps apply (idempotent)
    assert row["consent_changed_at"].replace(tzinfo=UTC) == newer
    index.write_events(
        [entity_event("newest-ns", "entity.updated", newer, ns=500, permissions=["transactions"])]
    )
    BookIndexer(index).apply_pending()
    index.write_events(
        [entity_event("older-ns", "entity.updated", newer, ns=400, permissions=["identity"])]
    )
    BookIndexer(index).apply_pending()
    assert json.loads(entity_row(index)["permissions"]) == ["transactions"]
    assert queries.index_status(index).events_applied == 5


def test_an_event_without_a_timestamp_never_overrides_one_with(index: EventStore) -> None:
    index.write_events([entity_event("stamped", "entity.updated", NOW, permissions=["accounts"])])
    index.write_events(
        [entity_event("unstamped", "entity.updated", None, permissions=["identity"])]
    )
    BookIndexer(index).apply_pending()
    assert json.loads(entity_row(index)["permissions"]) == ["accounts"]


def test_bad_events_are_skipped_and_the_indexer_goes_on(index: EventStore) -> None:
    index.write_events(
        [
            entity_event("not-json", "entity.created", NOW, body="{not json"),
            entity_event("no-payload", "entity.created", NOW, body='{"type": "entity.created"}'),
            entity_event(
                "no-id",
                "entity.created",
                NOW,
                body=json.dumps({"type": "entity.created", "payload": {"customer_id": CUSTOMER}}),
            ),
            entity_event("good", "entity.created", NOW, entity_id="a" * 8 + ENTITY[8:]),
        ]
    )
    counts = BookIndexer(index).apply_pending()
    assert (counts.applied, counts.skipped) == (1, 3)
    status = queries.index_status(index)
    assert (status.entities, status.events_skipped, status.events_pending) == (1, 3, 0)
    # The cursor moved past them: nothing is applied twice.
    assert BookIndexer(index).apply_pending().applied == 0


def test_an_event_that_breaks_the_indexer_is_passed_and_its_neighbours_applied(
    index: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.write_events(
        [entity_event(f"e{n}", "entity.created", NOW, entity_id=uid(n)) for n in range(1, 4)]
    )
    real = book.apply_event_row

    def explode_on_the_second(conn: Any, row: Any) -> None:
        if row["id"] == 2:
            raise RuntimeError("something no one expected")
        real(conn, row)

    monkeypatch.setattr(book, "apply_event_row", explode_on_the_second)
    counts = BookIndexer(index).apply_pending()
    assert (counts.applied, counts.skipped) == (2, 1)
    assert queries.index_status(index).entities == 2
    assert queries.index_status(index).events_pending == 0


def test_the_indexer_waits_for_a_young_event_to_settle(index: EventStore) -> None:
    young = entity_event("young", "entity.created", NOW)
    young = replace(young, received_at=datetime.now(UTC))
    index.write_events([entity_event("old", "entity.created", NOW, entity_id=uid(9)), young])
    assert BookIndexer(index, settle_seconds=30).apply_pending().applied == 1
    assert queries.index_status(index).events_pending == 1
    assert BookIndexer(index, settle_seconds=0).apply_pending().applied == 1


def test_the_indexer_thread_applies_new_events(index: EventStore) -> None:
    indexer = BookIndexer(index, idle_seconds=0.05).start()
    try:
        index.write_events([entity_event("live", "entity.created", NOW)])
        for _ in range(100):
            if queries.index_status(index).entities:
                break
            threading.Event().wait(0.05)
        assert queries.index_status(index).entities == 1
    finally:
        indexer.stop()


# -- the sync against the sandbox ----------------------------------------------------------------


def no_retry_client(settings: LeanSettings) -> LeanClient:
    return LeanClient(settings, timeout=(2.0, 5.0), max_retries=0)


def test_sync_fills_the_index_with_the_whole_book(
    index: EventStore, settings: LeanSettings, sandbox: SandboxServer
) -> None:
    seen: list[book.SyncProgress] = []
    client = no_retry_client(settings)
    done = BookSync(index, client, since=SYNC_SINCE, on_progress=seen.append).run()
    data = sandbox.state.data
    assert done.status == "done" and done.phase == "done"
    status = queries.index_status(index)
    assert status.customers == len(data.customers)
    assert status.entities == len(data.entities)
    assert status.consents == sum(len(e.consents) for e in data.entities.values())
    assert status.last_finished_sync is not None
    assert len(seen) == done.pages > 2  # progress after every page
    # The index agrees with the seed's current consents.
    entity = next(iter(data.entities.values()))
    row = entity_row(index, entity.entity_id)
    assert row["bank_identifier"] == entity.bank.identifier
    assert row["consent_id"] == entity.current_consent.id
    # A second sync changes nothing it should not.
    BookSync(index, client, since=SYNC_SINCE).run()
    assert queries.index_status(index).entities == len(data.entities)


class Interrupt(Exception):
    pass


class RecordingClient(LeanClient):
    """Notes which pages were asked for."""

    calls: list[tuple[Any, ...]]

    def list_customers(self, page_number: int = 0, page_size: int = 50) -> Any:
        self.calls.append(("customers", page_number))
        return super().list_customers(page_number, page_size)

    def list_entities_created(self, start_date: date, end_date: date, page_number: int = 0, page_size: int = 100) -> Any:  # fmt: skip
        self.calls.append(("entities", start_date, page_number))
        return super().list_entities_created(start_date, end_date, page_number, page_size)


def test_an_interrupted_sync_resumes_from_its_cursor(
    index: EventStore, settings: LeanSettings, sandbox: SandboxServer
) -> None:
    client = RecordingClient(settings, max_retries=0)
    client.calls = []

    def crash_after_three_pages(progress: book.SyncProgress) -> None:
        if progress.pages == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        BookSync(
            index, client, page_size=50, since=SYNC_SINCE, on_progress=crash_after_three_pages
        ).run()
    stopped = book.latest_sync(index)
    assert stopped is not None and stopped.status == "failed"
    assert stopped.cursor == {"page": 3} and stopped.customers_seen == 150
    client.calls = []
    done = BookSync(index, client, page_size=50, since=SYNC_SINCE).run()
    assert done.run_id == stopped.run_id
    assert client.calls[0] == ("customers", 3)  # not page 0 again
    assert ("customers", 0) not in client.calls
    assert queries.index_status(index).customers == len(sandbox.state.data.customers)
    assert done.customers_seen == len(sandbox.state.data.customers)


def test_sync_waits_out_a_rate_limit_and_goes_on(
    index: EventStore, settings: LeanSettings, sandbox: SandboxServer
) -> None:
    sandbox.faults.set(FaultConfig(error_rate=1, error_status=429, retry_after=1, remaining=1))
    waited: list[float] = []
    done = BookSync(index, no_retry_client(settings), since=SYNC_SINCE, sleep=waited.append).run()
    assert waited == [1.0]
    assert done.rate_limit_waits == 1
    assert queries.index_status(index).customers == len(sandbox.state.data.customers)


def test_a_sync_that_keeps_failing_is_kept_for_resuming(
    index: EventStore, settings: LeanSettings, sandbox: SandboxServer
) -> None:
    sandbox.faults.set(FaultConfig(error_rate=1, error_status=500))
    sync = BookSync(
        index,
        no_retry_client(settings),
        since=SYNC_SINCE,
        sleep=lambda _: None,
        transient_retries=2,
    )
    with pytest.raises(book.ServerError):
        sync.run()
    failed = book.latest_sync(index)
    assert failed is not None and failed.status == "failed" and failed.cursor == {"page": 0}
    sandbox.faults.set(FaultConfig())
    assert (
        BookSync(index, no_retry_client(settings), since=SYNC_SINCE).run().run_id == failed.run_id
    )


# -- the screens' questions on a constructed index -----------------------------------------------


def consent(cid: str, status: str, expires: datetime, created: datetime) -> Consent:
    return Consent.model_validate(
        {
            "id": cid,
            "consent_status": status,
            "creation_date_time": created.isoformat(),
            "status_update_date_time": created.isoformat(),
            "expiration_date_time": expires.isoformat(),
            "permissions": {"accounts": True, "balance": True},
        }
    )


def add(
    store: EventStore,
    customer: str,
    app_user_id: str,
    entity_id: str,
    bank: str,
    *consents: Consent,
) -> None:
    with store.connect(write=True) as conn:
        book.upsert_customer(conn, customer, app_user_id, seen_at=NOW)
        entity = Entity.model_validate(
            {"id": entity_id, "customer_id": customer, "bank_identifier": bank, "consents": []}
        )
        entity.consents = list(consents)
        book.upsert_entity(conn, entity, stamp=NOW, seen_at=NOW, synced=True)


def bank_event(bank: str, data_active: bool, at: datetime) -> EventRecord:
    body = json.dumps(
        {
            "type": "bank.availability.updated",
            "payload": {
                "identifier": bank,
                "availability": {
                    "active": {"data": data_active, "payments": True},
                    "enabled": {"data": True, "payments": True},
                },
            },
        }
    )
    return EventRecord(
        event_id=f"bank-{bank}-{at.isoformat()}",
        type="bank.availability.updated",
        message=None,
        lean_timestamp=at,
        received_at=NOW,
        verified=True,
        source_ip=None,
        payload=body,
        size=len(body),
        bank_identifier=bank,
    )


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture
def book_index(index: EventStore) -> EventStore:
    """Five customers: healthy, expiring in 5 days, revoked, on a bank that is down, expired."""
    day = timedelta(days=1)
    add(
        index,
        uid(1),
        "healthy",
        uid(101),
        "SNB",
        consent("c1", "ACTIVE", NOW + 200 * day, NOW - 9 * day),
    )
    add(
        index,
        uid(2),
        "expiring",
        uid(102),
        "SNB",
        consent("c2", "ACTIVE", NOW + 5 * day, NOW - 9 * day),
    )
    # Reconnected: the old consent was revoked, the new one (created later) is what counts.
    add(
        index, uid(3), "reconnected", uid(103), "RJHI",
        consent("c3a", "REVOKED", NOW + 100 * day, NOW - 90 * day),
        consent("c3b", "ACTIVE", NOW + 300 * day, NOW - 2 * day),
    )  # fmt: skip
    add(
        index,
        uid(4),
        "revoked",
        uid(104),
        "RJHI",
        consent("c4", "REVOKED", NOW + 9 * day, NOW - 9 * day),
    )
    add(
        index,
        uid(5),
        "on-down-bank",
        uid(105),
        "DOWN",
        consent("c5", "ACTIVE", NOW + 99 * day, NOW - 9 * day),
    )
    add(index, uid(6), "lapsed", uid(106), "SNB", consent("c6", "ACTIVE", NOW - day, NOW - 99 * day))  # fmt: skip
    index.write_events(
        [
            bank_event("DOWN", True, NOW - 3 * day),
            bank_event("DOWN", False, NOW - 2 * day),
            bank_event("SNB", False, NOW - 5 * day),
            bank_event("SNB", True, NOW - 4 * day),  # back up since
        ]
    )
    return index


def names(rows: list[queries.CustomerRow]) -> set[str | None]:
    return {r.app_user_id for r in rows}


def test_queue_filters_on_a_constructed_index(book_index: EventStore) -> None:
    assert queries.banks_down(book_index) == {"DOWN": "disabled_by_lean"}
    rows, total = queries.customer_page(book_index, QueueFilter(), now=NOW)
    assert total == 6
    rows, total = queries.customer_page(book_index, QueueFilter(needs_reconnect=True), now=NOW)
    assert names(rows) == {"revoked", "on-down-bank", "lapsed"} and total == 3
    rows, _ = queries.customer_page(book_index, QueueFilter(expiring_within_days=7), now=NOW)
    assert names(rows) == {"expiring"}
    rows, _ = queries.customer_page(book_index, QueueFilter(expiring_within_days=250), now=NOW)
    assert [r.app_user_id for r in rows] == ["expiring", "on-down-bank", "healthy"]  # soonest first
    rows, _ = queries.customer_page(book_index, QueueFilter(bank_down=True), now=NOW)
    assert names(rows) == {"on-down-bank"}
    rows, _ = queries.customer_page(book_index, QueueFilter(search="CONNECT"), now=NOW)
    assert names(rows) == {"reconnected"}
    rows, _ = queries.customer_page(book_index, QueueFilter(search="%"), now=NOW)
    assert rows == []  # a wildcard is text, not a pattern


def test_customer_columns_and_paging(book_index: EventStore) -> None:
    first, total = queries.customer_page(book_index, limit=4, offset=0, now=NOW)
    second, _ = queries.customer_page(book_index, limit=4, offset=4, now=NOW)
    assert total == 6 and len(first) == 4 and len(second) == 2
    assert not names(first) & names(second)
    by_name = {r.app_user_id: r for r in first + second}
    assert by_name["lapsed"].worst_consent == "EXPIRED"  # ACTIVE past its expiry
    assert by_name["reconnected"].worst_consent == "ACTIVE"
    assert by_name["on-down-bank"].banks_down == ["DOWN"]
    assert by_name["expiring"].next_expiry == NOW + timedelta(days=5)
    table = queries.customer_table(first + second, now=NOW)
    assert {"Banks", "Worst consent", "Next expiry", "Last refresh"} <= set(table[0])


def test_last_refresh_outcome_comes_from_stored_refresh_webhooks(book_index: EventStore) -> None:
    def refresh(event_id: str, status: str, at: datetime) -> EventRecord:
        body = json.dumps(
            {
                "type": "entity.data.refresh.updated",
                "payload": {"refresh_id": "r1", "entity_id": uid(101), "status": status},
            }
        )
        return EventRecord(
            event_id=event_id, type="entity.data.refresh.updated", message=None,
            lean_timestamp=at, received_at=NOW, verified=True, source_ip=None, payload=body,
            size=len(body), entity_id=uid(101), refresh_id="r1", status=status,
        )  # fmt: skip

    book_index.write_events(
        [refresh("late", "FINISHED", NOW - timedelta(hours=1)), refresh("early", "PENDING", NOW - timedelta(hours=2))]
    )  # fmt: skip
    rows, _ = queries.customer_page(book_index, QueueFilter(search="healthy"), now=NOW)
    assert rows[0].last_refresh is not None and rows[0].last_refresh.startswith("Finished")


def test_consent_expiry_across_the_book_and_its_csv(book_index: EventStore) -> None:
    with book_index.connect(write=True) as conn:
        book.upsert_customer(conn, uid(2), '=HYPERLINK("http://x")', seen_at=NOW)
    items = queries.expiring_consents(book_index, 30, now=NOW)
    assert [i.entity_id for i in items] == [uid(102)]  # a REVOKED consent does not expire
    items = queries.expiring_consents(book_index, 100, now=NOW)
    assert [i.entity_id for i in items] == [uid(102), uid(105)]
    assert queries.expiring_consents(book_index, 100, bank="DOWN", now=NOW)[0].entity_id == uid(105)
    by_bank = queries.expiry_by_bank(items)
    assert {b["Bank"]: b["Expiring"] for b in by_bank} == {"SNB": 1, "DOWN": 1}
    rows = list(csv.reader(io.StringIO(queries.expiry_csv(items))))
    assert rows[0] == ["app_user_id", "customer_id", "entity_id", "bank", "expiry"]
    assert rows[1][0].startswith("'=")  # a spreadsheet will not run it
    assert rows[1][1:4] == [uid(2), uid(102), "SNB"]
    assert rows[1][4].startswith((NOW + timedelta(days=5)).date().isoformat())


def test_a_schema_2_database_gains_the_index(index: EventStore) -> None:
    with index.engine.begin() as conn:
        for table in reversed(INDEX_TABLES):
            conn.exec_driver_sql(f"DROP TABLE {table.name}")
        conn.exec_driver_sql("UPDATE console_meta SET value = '2' WHERE key = 'schema_version'")
    upgraded = EventStore(index.url)
    try:
        upgraded.migrate()
        assert upgraded.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert queries.index_status(upgraded).customers == 0
        add(upgraded, uid(1), "after-upgrade", uid(101), "SNB")
        assert queries.customer_page(upgraded)[1] == 1
    finally:
        upgraded.dispose()


def test_entities_whose_consents_changed_are_read_again_from_lean(
    index: EventStore, settings: LeanSettings, sandbox: SandboxServer
) -> None:
    client = no_retry_client(settings)
    BookSync(index, client, since=SYNC_SINCE).run()
    entity = next(iter(sandbox.state.data.entities.values()))
    with index.engine.begin() as conn:  # the index lost track of its consents
        conn.execute(delete(index_consents).where(index_consents.c.entity_id == entity.entity_id))
        conn.execute(
            index_entities.update()
            .where(index_entities.c.entity_id == entity.entity_id)
            .values(consent_id=None, consent_status=None)
        )
    assert book.refresh_changed_entities(index, client) == 0  # nothing said it changed
    changed = entity_event(
        "reconnect",
        "entity.updated",
        datetime.now(UTC),
        entity_id=entity.entity_id,
        customer=entity.customer_id,
    )
    index.write_events([changed])
    BookIndexer(index).apply_pending()
    assert book.refresh_changed_entities(index, client) == 1
    assert entity_row(index, entity.entity_id)["consent_id"] == entity.current_consent.id
    assert book.refresh_changed_entities(index, client) == 0  # read once, not again and again
