"""Store queries behind the Banks screen, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from console import banks as banks_service
from console.banks import bank_report, describe_outage, load_history
from console.insights.bank_health import DOWN, HEALTHY
from console.store import EventRecord, EventStore
from lean_api.models import Bank
from lean_api.webhooks import WebhookEvent

NOW = datetime.now(UTC).replace(microsecond=0)


def stored(event_type: str, payload: dict, at: datetime, event_id: str) -> EventRecord:
    """A record indexed exactly as the receiver indexes it."""
    body = json.dumps(
        {"type": event_type, "message": "m", "payload": payload, "event_id": event_id,
         "timestamp": at.isoformat()}
    )  # fmt: skip
    event = WebhookEvent.model_validate_json(body)
    return EventRecord(
        event_id=event_id, type=event_type, message="m", lean_timestamp=at, received_at=at,
        verified=True, source_ip=None, payload=body, size=len(body), **event.index_fields(),
    )  # fmt: skip


def availability(bank: str, at: datetime, data: bool, n: int) -> EventRecord:
    flags = {
        "active": {"data": data, "payments": True},
        "enabled": {"data": True, "payments": True},
    }
    return stored(
        "bank.availability.updated", {"identifier": bank, "availability": flags}, at, f"b{n}"
    )


def entity(
    entity_id: str, bank: str, at: datetime, event_type: str = "entity.created"
) -> EventRecord:
    payload = {"id": entity_id, "customer_id": "c", "bank_details": {"identifier": bank}}
    return stored(event_type, payload, at, f"{event_type}-{entity_id}-{at.isoformat()}")


def refresh(
    refresh_id: str, entity_id: str, at: datetime, status: str, balance: str
) -> EventRecord:
    payload = {
        "refresh_id": refresh_id, "entity_id": entity_id, "status": status,
        "data_status": {"account_data": [{"account_id": "a", "balance": balance}]},
    }  # fmt: skip
    return stored("entity.data.refresh.updated", payload, at, f"r-{refresh_id}-{status}-{at}")


def test_availability_events_in_window_with_the_state_it_opens_with(store: EventStore) -> None:
    since = NOW - timedelta(days=7)
    store.write_events(
        [
            availability("RJHI", NOW - timedelta(days=20), True, 1),
            availability("RJHI", NOW - timedelta(days=10), False, 2),  # opens the window
            availability("RJHI", NOW - timedelta(days=2), True, 3),
            availability("RJHI", NOW - timedelta(days=3), False, 4),  # arrived out of order
            availability("SNB", NOW - timedelta(days=40), True, 5),  # opens SNB's window
        ]
    )
    events = store.bank_availability_events(since)
    assert [e.event_id for e in events] == ["b5", "b2", "b4", "b3"]
    only = store.bank_availability_events(since, bank_identifier="RJHI")
    assert [e.event_id for e in only] == ["b2", "b4", "b3"]


def test_refreshes_join_their_bank_through_entity_events(store: EventStore) -> None:
    hour = timedelta(hours=1)
    store.write_events(
        [
            entity("e1", "RJHI", NOW - timedelta(days=60)),
            entity("e1", "RJHI", NOW - timedelta(days=1), "entity.updated"),  # not counted twice
            entity("e2", "SNB", NOW - timedelta(days=60)),
            refresh("r1", "e1", NOW - 3 * hour, "PENDING", "PENDING"),
            refresh("r1", "e1", NOW - 2 * hour, "FINISHED", "SUCCESS"),
            refresh("r2", "e1", NOW - 2 * hour, "FINISHED", "FAILED"),
            refresh("r3", "e2", NOW - 5 * hour, "OK", "FAILED"),  # OK is Lean's FINISHED too
            refresh("r4", "e2", NOW - timedelta(days=9), "FINISHED", "FAILED"),  # too old
            refresh("r5", "e-unknown", NOW - hour, "FINISHED", "SUCCESS"),  # no bank known
            refresh("r6", "e2", NOW - 4 * hour, "PENDING", "PENDING"),  # not finished
        ]
    )
    since = NOW - timedelta(days=7)
    assert store.finished_refresh_counts(since) == {"RJHI": 2, "SNB": 1, None: 1}
    rows = store.finished_refreshes(since)
    assert [(bank, at) for bank, at, _ in rows] == [
        ("RJHI", NOW - 2 * hour), ("RJHI", NOW - 2 * hour), ("SNB", NOW - 5 * hour),
    ]  # fmt: skip
    assert len(store.finished_refreshes(since, limit=1)) == 1
    assert [b for b, *_ in store.finished_refreshes(since, bank_identifier="SNB")] == ["SNB"]


def test_history_and_report_from_a_store(store: EventStore) -> None:
    records = [entity("e1", "RJHI", NOW - timedelta(days=60))]
    records += [availability("RJHI", NOW - timedelta(days=20), True, 1)]
    records += [availability("RJHI", NOW - timedelta(hours=3), False, 2)]
    records += [
        refresh(f"r{i}", "e1", NOW - timedelta(hours=1), "FINISHED", "SUCCESS") for i in range(6)
    ]
    store.write_events(records)
    history = load_history(store, NOW)
    assert not history.cut and history.finished == {"RJHI": 6}
    up = {"active": {"data": True, "payments": True}, "enabled": {"data": True, "payments": True}}
    bank = Bank.model_validate({"identifier": "RJHI", "availability": up})
    report = bank_report(bank, history)
    assert report.verdict.overall.word == HEALTHY
    assert report.last_day["balance"].counts["SUCCESS"] == 6
    assert report.data_since is None  # Lean says up, the last event says down: not on record
    off = {**up, "active": {"data": False, "payments": True}}
    report = bank_report(Bank.model_validate({"identifier": "RJHI", "availability": off}), history)
    assert report.verdict.overall.word == DOWN
    assert report.outage is not None and report.outage.lasted(NOW) == timedelta(hours=3)
    assert report.uptime_7d is not None and 0.98 < report.uptime_7d < 0.99


def test_outage_wording_when_lean_and_the_record_disagree(store: EventStore) -> None:
    history = load_history(store, NOW)  # nothing on record
    off = {"active": {"data": False}, "enabled": {"data": True}}
    report = bank_report(Bank.model_validate({"identifier": "X", "availability": off}), history)
    assert describe_outage(report, NOW) == "not on record"
    store.write_events([availability("X", NOW - timedelta(hours=2), False, 9)])
    history = load_history(store, NOW)
    report = bank_report(Bank.model_validate({"identifier": "X", "availability": off}), history)
    assert describe_outage(report, NOW) == "≥ 2 h 0 min"  # the first record is already down


def test_history_says_when_it_read_only_the_newest_refreshes(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [entity("e1", "RJHI", NOW - timedelta(days=60))]
    records += [
        refresh(f"r{i}", "e1", NOW - timedelta(hours=i + 1), "FINISHED", "SUCCESS")
        for i in range(3)
    ]
    records += [refresh("orphan", "e-old", NOW - timedelta(hours=1), "FINISHED", "FAILED")]
    store.write_events(records)
    monkeypatch.setattr(banks_service, "MAX_REFRESHES", 2)
    history = load_history(store, NOW)
    assert history.cut and history.without_bank == 1
    assert [at for at, _ in history.outcomes["RJHI"]] == [
        NOW - timedelta(hours=1),
        NOW - timedelta(hours=2),
    ]


def test_refreshes_join_their_bank_through_the_book_index(store: EventStore) -> None:
    # The entity was connected before any stored entity event; the synced index knows its bank.
    from console.store import index_entities

    with store.engine.begin() as conn:
        conn.execute(index_entities.delete().where(index_entities.c.entity_id == "e-indexed"))
        conn.execute(
            index_entities.insert().values(
                entity_id="e-indexed",
                customer_id="c",
                bank_identifier="IDX_SAMAOB_SAU",
                last_seen_at=NOW.replace(tzinfo=None),
            )
        )
    try:
        store.write_events([refresh("r-idx", "e-indexed", NOW, "FINISHED", "SUCCESS")])
        counts = store.finished_refresh_counts(NOW - timedelta(days=1))
        assert counts.get("IDX_SAMAOB_SAU") == 1 and None not in counts
    finally:
        with store.engine.begin() as conn:
            conn.execute(index_entities.delete().where(index_entities.c.entity_id == "e-indexed"))
