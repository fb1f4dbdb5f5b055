"""The refresh index: stored refresh webhooks → index_refreshes, cells and the daily rollup, on
SQLite and PostgreSQL, whatever order the events arrive in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select

from console.book import BookIndexer
from console.events import inbox_rows
from console.store import (
    INDEX_TABLES,
    REFRESH_INDEX_TABLES,
    SCHEMA_VERSION,
    EventFilter,
    EventRecord,
    EventStore,
    index_refresh_cells,
    index_refresh_daily,
    index_refreshes,
    meta,
)
from tests.console.test_book import entity_event

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
T0 = NOW - timedelta(days=2)
CUSTOMER = "6d1675c1-7671-47fd-9814-26123733ef91"
ENTITY = "37315b50-87b2-4009-b01b-9796a33ae06c"
REFRESH = "2b5e1c9a-3a43-4a55-8f8e-5a4b7f1f0a11"


@pytest.fixture
def index(store: EventStore) -> Iterator[EventStore]:
    """The store with empty book and refresh indexes (PostgreSQL keeps them between tests)."""
    with store.engine.begin() as conn:
        for table in (*REFRESH_INDEX_TABLES, *INDEX_TABLES):
            conn.execute(delete(table))
        conn.execute(delete(meta).where(meta.c.key.like("book_%")))
    yield store


def refresh_event(
    event_id: str,
    at: datetime | None,
    status: str = "FINISHED",
    accounts: dict[str, dict[str, str]] | None = None,
    *,
    refresh_id: str = REFRESH,
    entity_id: str = ENTITY,
    ns: int = 0,
    body: str | None = None,
) -> EventRecord:
    accounts = accounts if accounts is not None else {"acc-1": {"balance": "SUCCESS"}}
    payload = {
        "type": "entity.data.refresh.updated",
        "message": "An entity data refresh state has been updated.",
        "event_id": event_id,
        "timestamp": at.isoformat() if at else None,
        "payload": {
            "refresh_id": refresh_id,
            "entity_id": entity_id,
            "customer_id": CUSTOMER,
            "app_user_id": "usr_1",
            "status": status,
            "data_status": {
                "accounts": "SUCCESS",
                "identity": "SUCCESS",
                "account_data": [
                    {"account_id": account_id, **statuses}
                    for account_id, statuses in accounts.items()
                ],
            },
        },
    }
    text = body if body is not None else json.dumps(payload)
    return EventRecord(
        event_id=event_id,
        type="entity.data.refresh.updated",
        message=None,
        lean_timestamp=at,
        lean_timestamp_ns=ns,
        received_at=NOW,
        verified=True,
        source_ip=None,
        payload=text,
        size=len(text),
        customer_id=CUSTOMER,
        entity_id=entity_id,
        refresh_id=refresh_id,
        status=status,
    )


def apply(store: EventStore, *records: EventRecord) -> tuple[int, int]:
    if records:
        store.write_events(list(records))
    counts = BookIndexer(store).apply_pending()
    return counts.applied, counts.skipped


def refresh_row(store: EventStore, refresh_id: str = REFRESH) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(
            conn.execute(select(index_refreshes).where(index_refreshes.c.refresh_id == refresh_id))
            .mappings()
            .one()
        )


def cells(store: EventStore, refresh_id: str = REFRESH) -> dict[tuple[str, str], tuple[str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(index_refresh_cells).where(index_refresh_cells.c.refresh_id == refresh_id)
        ).mappings()
        return {(r["account_id"], r["data_type"]): (r["status"], r["raw_status"]) for r in rows}


def rollup(store: EventStore) -> dict[tuple[str, str, str], dict[str, int]]:
    """(day, bank, data type) → the non-zero counts."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(index_refresh_daily)).mappings().all()
    out = {}
    for row in rows:
        counts = {
            k: row[k]
            for k in ("refreshes", "success", "partial", "failed", "pending", "unsupported")
            if row[k]
        }
        counts.update({"unknown": row["unknown"]} if row["unknown"] else {})
        if counts:
            day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"])
            out[(day.isoformat(), row["bank_identifier"], row["data_type"])] = counts
    return out


def test_ok_and_success_both_mean_success_and_lean_words_are_kept(index: EventStore) -> None:
    accounts = {"acc-1": {"balance": "OK", "transactions": "SUCCESS", "identity": "UNSUPPORTED"}}
    assert apply(index, refresh_event("r-fin", T0, "OK", accounts)) == (1, 0)
    assert cells(index) == {
        ("acc-1", "balance"): ("SUCCESS", "OK"),
        ("acc-1", "transactions"): ("SUCCESS", "SUCCESS"),
        ("acc-1", "identity"): ("UNSUPPORTED", "UNSUPPORTED"),
    }
    row = refresh_row(index)
    assert (row["status"], row["outcome"], row["accounts"]) == ("OK", "success", 1)
    assert row["finished_at"].replace(tzinfo=UTC) == T0
    day = T0.date().isoformat()
    assert rollup(index) == {
        (day, "", "all"): {"refreshes": 1, "success": 1},
        (day, "", "balance"): {"refreshes": 1, "success": 1},
        (day, "", "transactions"): {"refreshes": 1, "success": 1},
        (day, "", "identity"): {"refreshes": 1, "unsupported": 1},
    }


def test_the_worst_data_type_decides_the_outcome(index: EventStore) -> None:
    accounts = {
        "acc-1": {"balance": "FAILED", "transactions": "PARTIAL"},
        "acc-2": {"balance": "SUCCESS", "transactions": "PARTIAL", "standing_orders": "FAILED"},
    }
    apply(index, refresh_event("r-fin", T0, "FINISHED", accounts))
    row = refresh_row(index)
    assert (row["outcome"], row["failed_cells"], row["partial_cells"], row["accounts"]) == (
        "failed",
        2,
        2,
        2,
    )
    day = T0.date().isoformat()
    assert rollup(index)[(day, "", "balance")] == {"refreshes": 1, "failed": 1}
    assert rollup(index)[(day, "", "transactions")] == {"refreshes": 1, "partial": 1}


def test_a_later_event_wins_whatever_the_arrival_order(index: EventStore) -> None:
    finished = refresh_event(
        "r-fin", T0 + timedelta(minutes=5), "FINISHED", {"acc-1": {"transactions": "PARTIAL"}}
    )
    pending = refresh_event("r-pend", T0, "PENDING", {"acc-1": {"transactions": "PENDING"}})
    apply(index, finished)
    apply(index, pending)  # arrives late, in another batch
    row = refresh_row(index)
    assert (row["status"], row["outcome"], row["last_event_id"]) == ("FINISHED", "partial", "r-fin")
    assert cells(index) == {("acc-1", "transactions"): ("PARTIAL", "PARTIAL")}
    # The late PENDING still tells when the refresh started.
    assert row["started_at"].replace(tzinfo=UTC) == T0
    assert row["duration_seconds"] == 300
    day = T0.date().isoformat()
    assert rollup(index) == {
        (day, "", "all"): {"refreshes": 1, "partial": 1},
        (day, "", "transactions"): {"refreshes": 1, "partial": 1},
    }


def test_nanoseconds_order_events_in_the_same_microsecond(index: EventStore) -> None:
    failed = refresh_event("r-a", T0, "FINISHED", {"acc-1": {"balance": "FAILED"}}, ns=900)
    success = refresh_event("r-b", T0, "FINISHED", {"acc-1": {"balance": "SUCCESS"}}, ns=100)
    apply(index, failed, success)  # one batch
    assert refresh_row(index)["outcome"] == "failed"
    apply(index, refresh_event("r-c", T0, "FINISHED", {"acc-1": {"balance": "OK"}}, ns=50))
    assert refresh_row(index)["outcome"] == "failed"


def test_a_newer_state_replaces_the_rollup_counts_of_the_older(index: EventStore) -> None:
    apply(index, refresh_event("r-1", T0, "FINISHED", {"acc-1": {"balance": "FAILED"}}))
    later = T0 + timedelta(days=1)
    apply(index, refresh_event("r-2", later, "FINISHED", {"acc-1": {"balance": "SUCCESS"}}))
    assert rollup(index) == {
        (later.date().isoformat(), "", "all"): {"refreshes": 1, "success": 1},
        (later.date().isoformat(), "", "balance"): {"refreshes": 1, "success": 1},
    }


def test_duplicates_change_nothing(index: EventStore) -> None:
    events = [
        refresh_event("r-pend", T0, "PENDING", {"acc-1": {"balance": "PENDING"}}),
        refresh_event("r-fin", T0 + timedelta(minutes=2), "FINISHED"),
    ]
    apply(index, *events)
    before = (refresh_row(index), cells(index), rollup(index))
    # Redelivered (counted, not stored again), then the whole history applied again.
    index.write_events(events)
    with index.engine.begin() as conn:
        conn.execute(meta.update().where(meta.c.key == "book_indexer_cursor").values(value="0"))
    assert apply(index) == (2, 0)
    after = (refresh_row(index), cells(index), rollup(index))
    assert {k: v for k, v in after[0].items() if k != "indexed_at"} == {
        k: v for k, v in before[0].items() if k != "indexed_at"
    }
    assert after[1:] == before[1:]


def test_the_bank_comes_from_the_book_index_even_when_the_entity_comes_later(
    index: EventStore,
) -> None:
    day = T0.date().isoformat()
    apply(index, refresh_event("r-fin", T0, "FINISHED"))
    assert refresh_row(index)["bank_identifier"] is None
    assert (day, "", "all") in rollup(index)
    apply(index, entity_event("e-created", "entity.created", T0 - timedelta(days=1), bank="SNB"))
    assert refresh_row(index)["bank_identifier"] == "SNB"
    assert rollup(index) == {
        (day, "SNB", "all"): {"refreshes": 1, "success": 1},
        (day, "SNB", "balance"): {"refreshes": 1, "success": 1},
    }
    # A refresh of a known entity takes its bank at once.
    other = "9c1a2b3c-0000-4000-8000-000000000002"
    apply(index, refresh_event("r-other", T0, refresh_id=other))
    assert refresh_row(index, other)["bank_identifier"] == "SNB"


def test_unreadable_refresh_events_are_counted_and_passed(index: EventStore) -> None:
    no_id = json.loads(refresh_event("x", T0).payload)
    del no_id["payload"]["refresh_id"]
    bad = [
        refresh_event("r-not-json", T0, body="{not json"),
        refresh_event("r-no-payload", T0, body=json.dumps({"type": "x", "payload": [1]})),
        refresh_event("r-no-id", T0, body=json.dumps(no_id), refresh_id=""),
    ]
    good = refresh_event("r-good", T0, refresh_id="good-refresh")
    assert apply(index, *bad, good) == (1, 3)
    assert refresh_row(index, "good-refresh")["outcome"] == "success"
    with index.engine.connect() as conn:
        stored = conn.execute(select(index_refreshes.c.refresh_id)).scalars().all()
        skipped = conn.execute(
            select(meta.c.value).where(meta.c.key == "book_indexer_skipped")
        ).scalar()
    assert stored == ["good-refresh"] and skipped == "3"


def test_unknown_status_words_are_kept_as_themselves(index: EventStore) -> None:
    accounts = {"acc-1": {"balance": "throttled", "transactions": "SUCCESS"}}
    apply(index, refresh_event("r-fin", T0, "FINISHED", accounts))
    assert cells(index)[("acc-1", "balance")] == ("THROTTLED", "throttled")
    assert refresh_row(index)["outcome"] == "unknown"
    assert rollup(index)[(T0.date().isoformat(), "", "balance")] == {"refreshes": 1, "unknown": 1}
    apply(index, refresh_event("r-odd", T0 + timedelta(minutes=1), "RUNNING"))
    row = refresh_row(index)
    assert (row["status"], row["outcome"], row["finished_at"]) == ("RUNNING", "unknown", None)
    assert rollup(index) == {}  # not finished: not counted


def test_a_pending_refresh_is_pending_and_not_counted(index: EventStore) -> None:
    apply(index, refresh_event("r-p", T0, "PENDING", {"acc-1": {"balance": "PENDING"}}))
    row = refresh_row(index)
    assert (row["outcome"], row["finished_at"], row["duration_seconds"]) == ("pending", None, None)
    assert rollup(index) == {}


def test_the_inbox_shows_and_filters_refresh_events_by_their_entitys_bank(
    index: EventStore,
) -> None:
    apply(
        index,
        entity_event("e-created", "entity.created", T0 - timedelta(days=1), bank="SNB"),
        refresh_event("r-fin", T0),
    )
    other = refresh_event(
        "r-elsewhere", T0, refresh_id="r2", entity_id="11111111-0000-4000-8000-000000000001"
    )
    index.write_events([other])
    at_snb = index.query_events(EventFilter(bank_identifier="SNB"))
    assert {e.event_id for e in at_snb} == {"e-created", "r-fin"}
    assert index.count_events(EventFilter(bank_identifier="SNB")) == 2
    rows = {row["event_id"]: row["Bank"] for row in inbox_rows(index.query_events())}
    assert rows == {"e-created": "SNB", "r-fin": "SNB", "r-elsewhere": ""}
    event = index.get_event("r-fin")
    assert event is not None and event.bank_identifier is None and event.bank == "SNB"


def test_schema_4_indexes_refresh_events_stored_before_it(index: EventStore) -> None:
    apply(index, entity_event("e-created", "entity.created", T0 - timedelta(days=1), bank="SNB"))
    index.write_events([refresh_event("r-fin", T0)])
    with index.engine.begin() as conn:
        # As schema 3 left it: the cursor past the refresh event, no refresh tables.
        conn.execute(meta.update().where(meta.c.key == "book_indexer_cursor").values(value="99"))
        for table in reversed(REFRESH_INDEX_TABLES):
            conn.exec_driver_sql(f"DROP TABLE {table.name}")
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value="3"))
    upgraded = EventStore(index.url)
    try:
        upgraded.migrate()
        assert upgraded.get_meta("schema_version") == str(SCHEMA_VERSION)
        BookIndexer(upgraded).apply_pending()
        assert refresh_row(upgraded)["bank_identifier"] == "SNB"
    finally:
        upgraded.dispose()


def test_at_the_same_instant_finished_wins_as_on_the_screen(index: EventStore) -> None:
    finished = refresh_event("zzzz-1", T0, "FINISHED", {"acc-1": {"balance": "FAILED"}})
    pending = refresh_event("zzzz-2", T0, "PENDING", {"acc-1": {"balance": "PENDING"}})
    apply(index, finished, pending)
    assert refresh_row(index)["status"] == "FINISHED"
    apply(index, refresh_event("zzzz-3", T0, "PENDING"))  # a later batch, same instant
    assert refresh_row(index)["status"] == "FINISHED"


def test_an_impossible_start_does_not_make_a_duration_of_centuries(index: EventStore) -> None:
    record = refresh_event("old-1", T0, "FINISHED")
    body = json.loads(record.payload)
    body["payload"]["created_at"] = "0001-01-01T00:00:00Z"
    text = json.dumps(body)
    early = refresh_event("old-1", T0, "FINISHED", body=text)
    body["payload"]["created_at"] = "9999-12-31T23:59:59Z"
    late = refresh_event("old-2", T0 + timedelta(seconds=30), "FINISHED", body=json.dumps(body))
    apply(index, early, late)
    row = refresh_row(index)
    assert row["started_at"].replace(tzinfo=UTC) == T0  # the events' own clock, not year 1
    assert row["duration_seconds"] == 30
