"""Background writers give way to the receiver while deliveries arrive; the writer and the
process get ready for load at start-up (`console.background`, `EventWriter.start`,
`console.serving.freeze_start_up_heap`). Real SQLite stores and real threads throughout."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
from datetime import UTC, datetime

import pytest

from console import background
from console.book import BookIndexer
from console.events import SearchIndexer
from console.serving import freeze_start_up_heap
from console.store import (
    MAX_ROWS_PER_STATEMENT,
    SEARCH_CURSOR,
    EventRecord,
    EventStore,
    EventWriter,
)


def refresh_record(n: int) -> EventRecord:
    payload = {
        "type": "entity.data.refresh.updated",
        "event_id": f"courtesy-{n}",
        "payload": {"refresh_id": f"r-{n}", "customer_id": f"c-{n % 7}", "status": "FINISHED"},
    }
    return EventRecord(
        event_id=f"courtesy-{n}",
        type="entity.data.refresh.updated",
        message="An entity data refresh state has been updated.",
        lean_timestamp=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        received_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        verified=True,
        source_ip="127.0.0.1",
        payload=json.dumps(payload),
        size=200,
        customer_id=f"c-{n % 7}",
        refresh_id=f"r-{n}",
        status="FINISHED",
    )


def indexed(store: EventStore) -> int:
    """The highest row id the text index holds."""
    return int(store.get_meta(SEARCH_CURSOR) or 0)


def forget_bursts() -> None:
    background._last_busy = -1e9
    background._count = 0


@pytest.fixture
def quiet() -> None:
    """No burst of deliveries lately, whatever an earlier test in this process did."""
    forget_bursts()
    yield
    forget_bursts()


@pytest.fixture
def sqlite_store(tmp_path) -> EventStore:
    store = EventStore(f"sqlite:///{tmp_path / 'courtesy.db'}")
    store.migrate()
    yield store
    store.dispose()


class Busy:
    """A burst all along: 100 deliveries every 50 ms (2,000 a second), from a thread of its own."""

    def __enter__(self) -> Busy:
        self._stop = threading.Event()
        background.note_ingest(background.BUSY_DELIVERIES_PER_SECOND)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            background.note_ingest(background.BUSY_DELIVERIES_PER_SECOND)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_a_trickle_is_not_a_burst(quiet) -> None:
    for _ in range(10):  # 20 deliveries a second, Lean's pace on a busy day and then some
        background.note_ingest()
        assert not background.ingest_busy()
        time.sleep(0.05)


def test_busy_only_while_a_burst_was_committed_lately(quiet) -> None:
    assert not background.ingest_busy()
    assert background.yield_seconds(0.02) == 0.0
    background.note_ingest(background.BUSY_DELIVERIES_PER_SECOND)
    assert background.ingest_busy()
    # Four times the batch's own time, so the lock stays free 80% of the time; bounded.
    assert background.yield_seconds(0.02) == pytest.approx(0.08)
    assert background.yield_seconds(10.0) == background.MAX_YIELD_SECONDS
    assert background.yield_seconds(-1.0) == 0.0
    background._last_busy = time.monotonic() - background.BUSY_WINDOW_SECONDS - 0.01
    assert not background.ingest_busy()


def test_the_writer_counts_what_it_commits(quiet, sqlite_store: EventStore) -> None:
    writer = EventWriter(sqlite_store)

    async def deliver(first: int, count: int) -> None:
        await asyncio.gather(*(writer.write(refresh_record(n)) for n in range(first, count)))

    asyncio.run(deliver(0, 5))
    assert not background.ingest_busy()
    # Twice the rate's worth: whichever whole second they straddle, one side has the rate.
    asyncio.run(deliver(5, 5 + 2 * background.BUSY_DELIVERIES_PER_SECOND))
    assert background.ingest_busy()


class Recording(EventStore):
    """A real store that remembers the limit of each text-index batch."""

    limits: list[int]

    def index_search_text(self, *, limit: int = 2000) -> int:
        self.limits.append(limit)
        return super().index_search_text(limit=limit)


def test_a_background_writer_sits_out_a_burst_for_a_bounded_time(quiet) -> None:
    courtesy = background.Courtesy(max_defer=0.3)
    assert not courtesy.sit_out()  # nothing arriving
    with Busy():
        assert courtesy.sit_out()
        time.sleep(0.35)
        assert not courtesy.sit_out()  # a long burst: back to small bites
    forget_bursts()
    assert not courtesy.sit_out()
    courtesy.caught_up()
    with Busy():
        assert courtesy.sit_out()  # caught up since: a new burst is sat out again


def test_pauses_in_a_burst_do_not_restart_the_sitting_out(quiet) -> None:
    """A replayed delivery in bursts a second apart: the writer sits out once, for its bound,
    then takes bites until it has caught up (an outside review held both indexes back for good
    this way when a quiet moment started the count again)."""
    courtesy = background.Courtesy(max_defer=0.3)
    for _ in range(4):
        with Busy():
            courtesy.sit_out()
            time.sleep(0.1)
        forget_bursts()  # the pause between two bursts
        assert not courtesy.sit_out()
    with Busy():
        assert not courtesy.sit_out()  # 0.4 s of bursts since it last caught up: bites now


def test_the_text_index_sits_out_a_burst_then_catches_up(quiet, tmp_path) -> None:
    store = Recording(f"sqlite:///{tmp_path / 'text.db'}")
    store.limits = []
    store.migrate()
    store.write_events([refresh_record(n) for n in range(300)])
    indexer = SearchIndexer(store, batch=100, busy_batch=25, idle_seconds=0.05)
    try:
        with Busy():
            indexer.start()
            time.sleep(0.5)
            assert store.limits == []  # the write lock left to the receiver
        deadline = time.monotonic() + 30  # a bound, not a measurement
        while indexed(store) < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert indexed(store) == 300
        assert store.limits[:3] == [100, 100, 100]  # the burst is over: whole batches
    finally:
        indexer.stop()
        store.dispose()


def test_the_text_index_takes_small_bites_in_a_long_burst(quiet, tmp_path) -> None:
    store = Recording(f"sqlite:///{tmp_path / 'text.db'}")
    store.limits = []
    store.migrate()
    store.write_events([refresh_record(n) for n in range(3000)])
    indexer = SearchIndexer(store, batch=100, busy_batch=25, idle_seconds=0.05)
    indexer.courtesy.max_defer = 0.2
    try:
        with Busy():
            indexer.start()
            deadline = time.monotonic() + 30
            while len(store.limits) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            busy_limits = list(store.limits)
        assert busy_limits[:3] == [25, 25, 25]
        deadline = time.monotonic() + 30
        while indexed(store) < 3000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert indexed(store) == 3000
        assert 100 in store.limits[len(busy_limits) :]
    finally:
        indexer.stop()
        store.dispose()


def test_the_text_index_keeps_up_while_quiet(quiet, tmp_path) -> None:
    store = Recording(f"sqlite:///{tmp_path / 'text.db'}")
    store.limits = []
    store.migrate()
    store.write_events([refresh_record(n) for n in range(150)])
    indexer = SearchIndexer(store, batch=100, busy_batch=25, idle_seconds=0.05).start()
    try:
        deadline = time.monotonic() + 30
        while indexed(store) < 150 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.limits[:2] == [100, 100]
    finally:
        indexer.stop()
        store.dispose()


class RecordingIndexer(BookIndexer):
    """The real book indexer, remembering the size of each batch it read."""

    def _next_batch(self, limit: int):
        rows = super()._next_batch(limit)
        self.sizes.append(len(rows))
        return rows


def test_the_book_index_applies_small_batches_while_deliveries_arrive(
    quiet, sqlite_store: EventStore
) -> None:
    sqlite_store.write_events([refresh_record(n) for n in range(120)])
    indexer = RecordingIndexer(sqlite_store, batch=500, busy_batch=50, settle_seconds=0)
    indexer.sizes = []
    with Busy():
        counts = indexer.apply_pending(courteous=True)
    assert indexer.sizes == [50, 50, 20, 0]
    assert counts.applied + counts.skipped == 120
    # Called directly (a sync, a test, a tool), it reads whole batches, busy or not.
    sqlite_store.write_events([refresh_record(n) for n in range(120, 240)])
    indexer.sizes = []
    background.note_ingest(background.BUSY_DELIVERIES_PER_SECOND)
    indexer.apply_pending()
    assert indexer.sizes == [120, 0]


def test_a_started_writer_prepares_its_statements_before_any_delivery(
    sqlite_store: EventStore,
) -> None:
    EventWriter(sqlite_store, max_batch=64).start()
    deadline = time.monotonic() + 30
    while len(sqlite_store._batch_upserts) < 7 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(sqlite_store._batch_upserts) == [1, 2, 4, 8, 16, 32, 64]
    big = EventWriter(sqlite_store, max_batch=10_000)
    sqlite_store.prepare_event_writes(big.max_batch)
    assert max(sqlite_store._batch_upserts) == MAX_ROWS_PER_STATEMENT
    assert sqlite_store.count_events() == 0  # prepared, nothing written


def test_start_up_objects_are_frozen_once() -> None:
    freeze_start_up_heap()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    freeze_start_up_heap()  # a second app's start-up in this process: nothing more
    assert gc.get_freeze_count() == frozen


def test_the_book_index_sits_out_a_burst_then_applies_it(quiet, sqlite_store: EventStore) -> None:
    sqlite_store.write_events([refresh_record(n) for n in range(60)])
    indexer = RecordingIndexer(sqlite_store, settle_seconds=0, idle_seconds=0.05)
    indexer.sizes = []
    try:
        with Busy():
            indexer.start()
            time.sleep(0.5)
            assert indexer.sizes == []
        deadline = time.monotonic() + 30  # a bound, not a measurement
        while 60 not in indexer.sizes and time.monotonic() < deadline:
            time.sleep(0.02)
        assert indexer.sizes[0] == 60
    finally:
        indexer.stop()
