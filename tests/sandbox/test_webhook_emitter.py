"""The sandbox delivers webhooks like Lean: signed, retried on Lean's schedule, with 30 days of history."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from console.store import EventFilter, EventStore
from console.webhooks import WEBHOOK_PATH, ReceiverConfig, WebhookReceiver, create_app
from lean_api.webhooks import SIGNATURE_HEADER, verify_signature
from sandbox.app import SandboxConfig, SandboxState
from sandbox.server import ThreadedServer
from sandbox.webhooks import LEAN_RETRY_SCHEDULE, WebhookEmitter

SECRET = "whsec_emitter_test"
SCALE = 0.002  # Lean's minutes become milliseconds


class FlakyEndpoint:
    """Answers 500 to the first `failures` deliveries, then 200; remembers what it saw."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: list[tuple[float, bytes, str | None]] = []
        self.server = ThreadedServer(
            Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])
        ).start()

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.seen.append((time.monotonic(), body, request.headers.get(SIGNATURE_HEADER)))
        return JSONResponse({}, status_code=500 if len(self.seen) <= self.failures else 200)


@pytest.fixture(scope="module")
def state() -> SandboxState:
    return SandboxState(SandboxConfig(seed=2026, refresh_seconds=0.2))


def test_lean_schedule_is_1_2_5_10_60_180_minutes() -> None:
    assert LEAN_RETRY_SCHEDULE == (60, 120, 300, 600, 3600, 10800)


def test_failed_delivery_follows_the_schedule_then_succeeds(state: SandboxState) -> None:
    endpoint = FlakyEndpoint(failures=4)
    emitter = WebhookEmitter(state, endpoint.server.url + "/hook", SECRET, time_scale=SCALE).start()
    try:
        emitter.send(
            {
                "type": "entity.updated",
                "payload": {},
                "event_id": "retry-me",
                "timestamp": datetime.now(UTC),
            }
        )
        assert emitter.wait_idle(timeout=10)
    finally:
        emitter.stop()
        endpoint.server.stop()
    assert len(endpoint.seen) == 5
    # When each attempt started, by the emitter's clock: the schedule counts from the first.
    starts = [started for event_id, started, _ in emitter.attempt_log if event_id == "retry-me"]
    assert [status for *_, status in emitter.attempt_log] == [500, 500, 500, 500, 200]
    offsets = [started - starts[0] for started in starts[1:]]
    expected = [s * SCALE for s in LEAN_RETRY_SCHEDULE[:4]]
    for offset, planned in zip(offsets, expected, strict=True):
        assert planned <= offset  # never early
    # Measured from the first attempt, not the last: counted from each attempt before it, the
    # last retry would start at the sum of the waits or later (2.16 s here, against 1.2 s). A
    # busy machine only delays a retry: a bound of 0.25 s on that delay failed once under load.
    assert offsets[-1] < sum(expected)
    for _, body, header in endpoint.seen:
        verify_signature(body, header, SECRET)
    assert emitter.stats["delivered"] == 1 and emitter.stats["retried"] == 4


def test_delivery_is_abandoned_after_the_last_retry(state: SandboxState) -> None:
    endpoint = FlakyEndpoint(failures=100)
    emitter = WebhookEmitter(
        state, endpoint.server.url + "/hook", SECRET, time_scale=0.0005
    ).start()
    try:
        emitter.send({"type": "x", "payload": {}, "event_id": "doomed"})
        assert emitter.wait_idle(timeout=10)
    finally:
        emitter.stop()
        endpoint.server.stop()
    assert len(endpoint.seen) == 1 + len(LEAN_RETRY_SCHEDULE)
    assert emitter.stats["gave_up"] == 1


def test_history_covers_thirty_days_of_every_type(state: SandboxState) -> None:
    now = datetime.now(UTC)
    emitter = WebhookEmitter(state, "http://127.0.0.1:9/unused", SECRET)
    history = emitter.history(days=30, now=now)
    kinds = Counter(e["type"] for e in history)
    assert set(kinds) == {
        "entity.created",
        "entity.updated",
        "entity.data.refresh.updated",
        "bank.availability.updated",
    }
    assert all(now - timedelta(days=30) <= e["timestamp"] <= now for e in history)
    statuses = Counter(
        e["payload"]["status"] for e in history if e["type"] == "entity.data.refresh.updated"
    )
    assert statuses["PENDING"] and statuses["FINISHED"]
    finished = next(
        e
        for e in history
        if e["type"] == "entity.data.refresh.updated" and e["payload"]["status"] == "FINISHED"
    )
    account = finished["payload"]["data_status"]["account_data"][0]
    assert "transaction_availability" in account or "transactions" not in account
    assert [e["event_id"] for e in emitter.history(days=30, now=now)] == [
        e["event_id"] for e in history
    ]  # deterministic


@pytest.fixture
def console_receiver(store: EventStore) -> Iterator[tuple[EventStore, str]]:
    server = ThreadedServer(
        create_app(WebhookReceiver(store, ReceiverConfig(secret=SECRET))), lifespan="on"
    ).start()
    yield store, server.url + WEBHOOK_PATH
    server.stop()


def test_backfill_and_live_events_arrive_verified(console_receiver: tuple[EventStore, str]) -> None:
    store, url = console_receiver
    state = SandboxState(SandboxConfig(seed=7, refresh_seconds=0.2))
    emitter = WebhookEmitter(state, url, SECRET, time_scale=SCALE).start()
    try:
        sent = emitter.backfill(days=10)
        assert emitter.wait_idle(timeout=60)
        assert store.count_events() == sent
        emitter.backfill(days=10)  # a second back-fill repeats event ids: counted, not duplicated
        assert emitter.wait_idle(timeout=60)
        assert store.count_events() == sent
        import random

        rng = random.Random(3)
        happened = Counter(emitter.live_event(rng) for _ in range(25))
        time.sleep(0.5)  # refreshes finish after 0.2 s
        assert emitter.wait_idle(timeout=20)
    finally:
        emitter.stop()
    assert happened["refresh"] > 0
    assert all(e.verified for e in store.query_events(limit=500))
    refresh_events = store.query_events(
        EventFilter(types=("entity.data.refresh.updated",)), limit=1
    )
    latest = store.refresh_status(refresh_events[0].refresh_id)  # type: ignore[arg-type]
    assert latest is not None and latest.status in ("PENDING", "FINISHED")
