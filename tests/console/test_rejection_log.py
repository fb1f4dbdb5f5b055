"""The rejection log is counted and sampled: a flood is counted exactly, its rows stay bounded,
triage keeps the first refused delivery per claimed customer, and old rows are pruned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from console.store import EventStore
from console.webhooks import ReceiverConfig, RejectionLog
from tests.receivers import SECRET, Receiver


@pytest.fixture
def sqlite_receiver(tmp_path: Path) -> Iterator[Receiver]:
    store = EventStore(f"sqlite:///{tmp_path / 'flood.db'}")
    store.migrate()
    served = Receiver(store, ReceiverConfig(secret=SECRET))
    yield served
    served.server.stop()
    store.dispose()


@pytest.fixture
def counted_store(store: EventStore) -> EventStore:
    """The shared `store`, with no counts left from an earlier test (the shared PostgreSQL
    fixture empties the tables it knows, and this one is newer)."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM webhook_rejection_counts")
    return store


def claiming(customer_id: str, n: int) -> bytes:
    return json.dumps(
        {
            "type": "entity.created",
            "event_id": f"flood-{n}",
            "payload": {"id": f"ent-{n}", "customer_id": customer_id},
        }
    ).encode()


def test_an_unsigned_flood_is_counted_exactly_and_its_rows_stay_bounded(
    sqlite_receiver: Receiver,
) -> None:
    log = sqlite_receiver.receiver.rejections
    customers = [f"cust-{k}" for k in range(50)]

    def post_slice(start: int) -> list[int]:
        with requests.Session() as session:
            return [
                session.post(
                    sqlite_receiver.url, data=claiming(customers[n % 50], n), timeout=10
                ).status_code
                for n in range(start, 5000, 8)
            ]

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for part in pool.map(post_slice, range(8)) for s in part]
    assert statuses.count(401) == 5000
    assert log.wait_idle(timeout=30)

    store = sqlite_receiver.store
    rows = store.list_rejections(limit=10_000)
    buckets = store.rejection_buckets()
    # Per minute: the first 20 of (reason, source) plus the first per claimed customer.
    minutes = len({b["minute"] for b in buckets})
    assert len(rows) <= minutes * (20 + len(customers)) < 5000 / 10
    assert store.count_rejections() == 5000 == store.count_table("rejections")
    assert log.sampled_out + len(rows) == 5000 and log.dropped == 0
    # Triage still finds a refused entity.created for every customer the flood claimed.
    assert {r["claimed_customer_id"] for r in rows} == set(customers)
    assert sum(b["refused"] for b in buckets) == 5000
    assert sum(b["kept"] for b in buckets) == len(rows)
    assert {b["source_ip"] for b in buckets} == {"127.0.0.1"}

    # Another reason from the same source has a sample of its own.
    wrong = sqlite_receiver.post(claiming("cust-0", 9999), signature="sha512=" + "0" * 128)
    assert wrong.status_code == 401
    newest = store.list_rejections(limit=1)[0]
    assert newest["reason"] == "signature does not match the body"
    assert store.count_rejections() == 5001


def test_the_first_refusal_claiming_each_customer_is_kept_past_the_source_sample(
    tmp_path: Path,
) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'claims.db'}")
    log = RejectionLog(store, per_source=2, claims_per_minute=3)
    at = datetime(2026, 11, 28, 10, 0, 5, tzinfo=UTC)
    claims = ["a", "a", "b", "c", "d", "e", "a", None]
    for claim in claims:
        log.add(received_at=at, source_ip="203.0.113.9", status_code=401, reason="missing",
                size=1, signature=None, claimed_customer_id=claim)  # fmt: skip
    assert log.wait_idle()
    kept = [r["claimed_customer_id"] for r in reversed(store.list_rejections())]
    # two for the source ("a", "a"), then the first of "b" and "c" (3 customers a minute at most)
    assert kept == ["a", "a", "b", "c"]
    assert store.count_rejections() == len(claims)
    # A new minute starts a new sample.
    log.add(received_at=at + timedelta(minutes=1), source_ip="203.0.113.9", status_code=401,
            reason="missing", size=1, signature=None, claimed_customer_id="e")  # fmt: skip
    assert log.wait_idle()
    assert store.list_rejections()[0]["claimed_customer_id"] == "e"
    assert store.count_rejections() == len(claims) + 1
    store.dispose()


def test_retention_prunes_old_rows_and_counts(counted_store: EventStore) -> None:
    store = counted_store
    now = datetime.now(UTC)
    log = RejectionLog(store, retention_days=14)
    for age in (timedelta(days=20), timedelta(days=15), timedelta(days=1), timedelta(0)):
        log.add(received_at=now - age, source_ip="198.51.100.7", status_code=403,
                reason="source address not allowed", size=10, signature=None)  # fmt: skip
    assert log.wait_idle()
    assert store.count_rejections() == 4
    assert log.prune() == 2
    assert len(store.list_rejections()) == 2 and store.count_rejections() == 2
    assert all(r["received_at"] > now - timedelta(days=14) for r in store.list_rejections())


def test_counts_survive_a_database_outage_exactly(tmp_path: Path) -> None:
    away = EventStore("postgresql+psycopg://nobody@127.0.0.1:9/none")
    log = RejectionLog(away, per_source=1)
    at = datetime.now(UTC)
    for n in range(30):
        log.add(received_at=at, source_ip="192.0.2.1", status_code=401, reason="missing",
                size=n, signature=None)  # fmt: skip
    assert not log.wait_idle(timeout=0.5)  # nothing can be written yet
    log.store = EventStore(f"sqlite:///{tmp_path / 'back.db'}")
    assert log.wait_idle(timeout=10)
    assert log.store.count_rejections() == 30
    assert len(log.store.list_rejections()) == 1
    log.store.dispose()


def test_schema_7_starts_the_counts_from_the_rows_already_kept(
    counted_store: EventStore,
) -> None:
    store = counted_store
    at = datetime(2026, 11, 1, 9, 30, 15, tzinfo=UTC)
    store.record_rejections(
        [{"received_at": at + timedelta(seconds=s), "source_ip": None, "status_code": 401,
          "reason": "missing signature header", "size": 1} for s in range(3)]
    )  # fmt: skip
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE webhook_rejection_counts")
        conn.exec_driver_sql("UPDATE console_meta SET value = '6' WHERE key = 'schema_version'")
    again = EventStore(store.url)
    again.migrate()
    assert again.count_rejections() == 3
    (bucket,) = again.rejection_buckets()
    assert bucket["minute"] == at.replace(second=0) and bucket["source_ip"] is None
    # Later counts land in the same bucket the migration made.
    again.record_rejections([{"received_at": at, "source_ip": None, "status_code": 401,
                              "reason": "missing signature header", "size": 1}])  # fmt: skip
    assert [b["refused"] for b in again.rejection_buckets()] == [4]
    again.dispose()


@pytest.mark.parametrize(
    ("value", "days", "problem"),
    [("", 14, False), ("30", 30, False), ("fourteen", 14, True), ("0", 14, True)],
)
def test_retention_setting(value: str, days: int, problem: bool) -> None:
    config = ReceiverConfig.from_env(
        {"CONSOLE_REJECTION_RETENTION_DAYS": value, "LEAN_WEBHOOK_SECRET": "s"}, dotenv_path=None
    )
    assert config.rejection_retention_days == days
    assert (config.problem is not None) is problem
