"""The event store on SQLite and PostgreSQL: idempotent, filterable, ordered by Lean's clock."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.store import (
    SCHEMA_VERSION,
    EventFilter,
    EventRecord,
    EventStore,
    EventWriter,
    StoreUnavailable,
)
from tests import pgcluster

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def record(
    event_id: str,
    *,
    type_: str = "entity.data.refresh.updated",
    at: datetime | None = T0,
    **fields: str,
) -> EventRecord:
    payload = {"type": type_, "event_id": event_id, "payload": fields}
    return EventRecord(
        event_id=event_id,
        type=type_,
        message=None,
        lean_timestamp=at,
        received_at=datetime.now(UTC),
        verified=True,
        source_ip="127.0.0.1",
        payload=json.dumps(payload),
        size=len(json.dumps(payload)),
        customer_id=fields.get("customer_id"),
        entity_id=fields.get("entity_id"),
        bank_identifier=fields.get("bank_identifier"),
        refresh_id=fields.get("refresh_id"),
        status=fields.get("status"),
    )


def test_schema_is_created_and_versioned(store: EventStore) -> None:
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    store.migrate()  # idempotent
    assert store.count_events() == 0


def test_duplicate_event_is_stored_once(store: EventStore) -> None:
    first = store.write_events([record("e-1")])[0]
    again = store.write_events([record("e-1")])[0]
    assert (first.delivery_count, first.duplicate) == (1, False)
    assert (again.delivery_count, again.duplicate) == (2, True)
    stored = store.get_event("e-1")
    assert store.count_events() == 1 and stored is not None and stored.delivery_count == 2
    assert stored.last_received_at >= stored.received_at


def test_concurrent_deliveries_of_one_event_make_one_row(store: EventStore) -> None:
    # The console's own busy timeout (5 s), not the fixture's 300 ms meant for lock tests: twelve
    # writers queueing on SQLite's single write lock on a busy CI machine can wait longer.
    writer = EventStore(store.url)
    barrier = threading.Barrier(12)
    errors: list[Exception] = []

    def deliver() -> None:
        barrier.wait()
        try:
            writer.write_events([record("same-event")])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.dispose()
    assert not errors
    assert store.count_events() == 1
    assert store.get_event("same-event").delivery_count == 12  # type: ignore[union-attr]


def test_current_state_follows_leans_timestamp_not_arrival(store: EventStore) -> None:
    store.write_events(
        [record("finished", at=T0 + timedelta(seconds=9), refresh_id="r1", status="FINISHED")]
    )
    store.write_events(
        [record("pending", at=T0, refresh_id="r1", status="PENDING")]
    )  # arrives late
    current = store.refresh_status("r1")
    assert current is not None and current.status == "FINISHED"
    assert [e.event_id for e in store.query_events(EventFilter(refresh_id="r1"))] == [
        "finished",
        "pending",
    ]


def test_filters_narrow_the_inbox(store: EventStore) -> None:
    store.write_events(
        [
            record(
                "a",
                type_="entity.created",
                customer_id="c1",
                entity_id="e1",
                bank_identifier="RJHI",
            ),
            record(
                "b",
                type_="entity.data.refresh.updated",
                customer_id="c1",
                entity_id="e1",
                refresh_id="r9",
                at=T0 + timedelta(days=2),
            ),
            record(
                "c",
                type_="bank.availability.updated",
                bank_identifier="RIBL",
                at=T0 - timedelta(days=40),
            ),
            record("d", type_="payment.created", customer_id="c2", at=None),
        ]
    )
    assert {e.event_id for e in store.query_events(EventFilter(customer_id="c1"))} == {"a", "b"}
    assert [
        e.event_id for e in store.query_events(EventFilter(types=("bank.availability.updated",)))
    ] == ["c"]
    assert [e.event_id for e in store.query_events(EventFilter(bank_identifier="RJHI"))] == ["a"]
    assert {
        e.event_id
        for e in store.query_events(
            EventFilter(since=T0 - timedelta(days=1), until=T0 + timedelta(days=1))
        )
    } == {"a"}
    assert [e.event_id for e in store.query_events(EventFilter(text="R9"))] == ["b"]
    assert [e.event_id for e in store.query_events(EventFilter(text="100%_"))] == []
    assert store.count_events(EventFilter(customer_id="c1")) == 2
    assert dict(store.event_types())["payment.created"] == 1
    assert store.bank_identifiers() == ["RIBL", "RJHI"]


def test_events_without_lean_timestamp_sort_by_arrival(store: EventStore) -> None:
    store.write_events([record("no-ts", at=None)])
    newest = store.query_events(limit=1)[0]
    assert newest.event_id == "no-ts" and newest.occurred_at == newest.received_at


def test_paging_is_stable(store: EventStore) -> None:
    store.write_events([record(f"p{i:02d}", at=T0 + timedelta(minutes=i)) for i in range(30)])
    pages = [store.query_events(limit=7, offset=o) for o in range(0, 30, 7)]
    ids = [e.event_id for page in pages for e in page]
    assert ids == [f"p{i:02d}" for i in range(29, -1, -1)]


def test_rejections_and_dead_letters_are_kept_apart(store: EventStore) -> None:
    store.record_rejection(
        source_ip="203.0.113.9",
        status_code=401,
        reason="signature does not match the body",
        size=120,
        signature="sha512=00",
    )
    store.record_dead_letter(
        source_ip="127.0.0.1", reason="body is not valid JSON", verified=True, body=b"{not json\x00"
    )
    assert store.count_events() == 0
    assert store.list_rejections()[0]["reason"] == "signature does not match the body"
    letter = store.list_dead_letters()[0]
    assert letter["body"].startswith("{not json") and letter["verified"] is True


def test_csv_export_has_every_filtered_event(store: EventStore) -> None:
    store.write_events([record(f"x{i}", customer_id="c1" if i % 2 else "c2") for i in range(10)])
    lines = store.export_csv(EventFilter(customer_id="c1")).strip().splitlines()
    assert lines[0].startswith("event_id,type,lean_timestamp")
    assert len(lines) == 6


def test_concurrent_async_writes_share_commits(store: EventStore) -> None:
    writer = EventWriter(store)

    async def deliver_all() -> list:
        return await asyncio.gather(*(writer.write(record(f"g{i}")) for i in range(200)))

    results = asyncio.run(deliver_all())
    assert len({r.event_id for r in results}) == 200
    assert store.count_events() == 200
    assert writer.batches < 200  # several deliveries per transaction


def test_locked_database_is_unavailable_then_recovers(store: EventStore) -> None:
    holder = EventStore(store.url)
    holder.migrate()
    with holder.engine.connect() as conn:
        if store.dialect == "sqlite":
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
        else:
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StoreUnavailable):
            store.write_events([record("during-outage")])
        conn.rollback()
    holder.dispose()
    assert store.write_events([record("during-outage")])[0].delivery_count == 1
    assert store.count_events() == 1


def test_unreachable_database_is_unavailable() -> None:
    store = EventStore("postgresql+psycopg://nobody@127.0.0.1:9/none")
    with pytest.raises(StoreUnavailable):
        store.ping()


def test_a_schema_1_database_is_migrated_in_place(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A database written by the first release (schema 1) keeps its rows and gains schema 2."""
    for url in (f"sqlite:///{tmp_path / 'v1.db'}", fresh_postgres_database(request, "schema_one")):
        as_schema_1(url)
        store = EventStore(url)
        store.migrate()
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        old = store.get_event("old-1")
        assert old is not None and old.lean_timestamp_ns == 0
        assert store.record_dead_letter(source_ip=None, reason="bad", verified=True, body=b"{") == 1
        assert store.record_dead_letter(source_ip=None, reason="bad", verified=True, body=b"{") == 2
        store.dispose()


def as_schema_1(url: str) -> None:
    """A database as the first release left it: schema 2's additions removed, one event in it."""
    store = EventStore(url)
    store.migrate()
    store.write_events([record("old-1")])
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX uq_webhook_dead_letters_body_digest")
        for table, column in [
            ("webhook_events", "lean_timestamp_ns"),
            ("webhook_dead_letters", "body_digest"),
            ("webhook_dead_letters", "delivery_count"),
            ("webhook_dead_letters", "last_received_at"),
        ]:
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.exec_driver_sql(
            "INSERT INTO webhook_dead_letters (received_at, reason, verified, size, body) "
            "VALUES ('2026-01-01 00:00:00', 'old', false, 1, '{')"
        )
        conn.exec_driver_sql("UPDATE console_meta SET value = '1' WHERE key = 'schema_version'")
    store.dispose()


def fresh_postgres_database(request: pytest.FixtureRequest, name: str) -> str:
    return pgcluster.fresh_postgres_database(request.getfixturevalue("postgres_url"), name)
