"""The book index written by two transactions at once on PostgreSQL: the indexer (webhooks) and
the sync (Lean's own list), each holding rows the other wants. They take turns
(`book.book_transaction`), so neither is aborted as a deadlock and no refresh misses its bank."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text

from console import book
from console import book_queries as queries
from console.book import BookIndexer, BookSync
from console.store import INDEX_TABLES, REFRESH_INDEX_TABLES, EventStore, index_refreshes, meta
from lean_api import LeanSettings
from lean_api.models import Entity
from sandbox.server import SandboxServer
from tests.console.test_book import SYNC_SINCE, no_retry_client
from tests.console.test_refresh_index import CUSTOMER, ENTITY, T0, refresh_event, rollup

OTHER_REFRESH = "9c1a2b3c-0000-4000-8000-000000000002"


@pytest.fixture
def pg_index(postgres_url: str) -> Iterator[EventStore]:
    """A PostgreSQL store with empty webhook, book and refresh tables."""
    store = EventStore(postgres_url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(text("TRUNCATE webhook_events"))
        for table in (*REFRESH_INDEX_TABLES, *INDEX_TABLES):
            conn.execute(delete(table))
        conn.execute(delete(meta).where(meta.c.key.like("book_%")))
    yield store
    store.engine.dispose()


def entity_at_bank(bank: str) -> Entity:
    """The entity as Lean's list gives it to the sync, with its bank."""
    return Entity.model_validate(
        {
            "id": ENTITY,
            "customer_id": CUSTOMER,
            "bank_identifier": bank,
            "created_at": (T0 - timedelta(days=1)).isoformat(),
            "updated_at": (T0 - timedelta(days=1)).isoformat(),
        }
    )


def run_aside(work: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors


def wait_until_blocked_or_done(store: EventStore, thread: threading.Thread) -> bool:
    """True once another session waits for a lock; False if the thread ended without waiting."""
    deadline = time.monotonic() + 20
    with store.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE NOT granted")
            ).scalar_one()
            if waiting:
                return True
            if not thread.is_alive():
                return False
            conn.rollback()
            time.sleep(0.02)
    raise AssertionError("the second transaction neither waited nor finished in 20 s")


def banks_of_refreshes(store: EventStore) -> dict[str, str | None]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(index_refreshes.c.refresh_id, index_refreshes.c.bank_identifier))
        return {refresh_id: bank for refresh_id, bank in rows}


def test_a_refresh_indexed_while_the_sync_writes_its_entity_takes_the_bank(
    pg_index: EventStore,
) -> None:
    store = pg_index
    # One refresh indexed before anyone knew its entity: counted under no bank.
    store.write_events([refresh_event("r-1", T0)])
    BookIndexer(store, settle_seconds=0).apply_pending()
    # A second one is stored, not yet indexed, when the sync learns the entity's bank.
    store.write_events([refresh_event("r-2", T0, refresh_id=OTHER_REFRESH)])
    with book.book_transaction(store) as conn:
        book.upsert_entity(
            conn, entity_at_bank("SNB"), stamp=T0, seen_at=datetime.now(UTC), synced=True
        )
        indexer, errors = run_aside(lambda: BookIndexer(store, settle_seconds=0).apply_pending())
        wait_until_blocked_or_done(store, indexer)
    indexer.join(20)
    assert not indexer.is_alive() and not errors
    assert banks_of_refreshes(store) == {
        "2b5e1c9a-3a43-4a55-8f8e-5a4b7f1f0a11": "SNB",
        OTHER_REFRESH: "SNB",
    }
    day = T0.date().isoformat()
    assert rollup(store) == {
        (day, "SNB", "all"): {"refreshes": 2, "success": 2},
        (day, "SNB", "balance"): {"refreshes": 2, "success": 2},
    }


def test_the_sync_waits_for_an_indexer_transaction_instead_of_deadlocking(
    pg_index: EventStore, settings: LeanSettings, sandbox: SandboxServer
) -> None:
    store = pg_index
    store.write_events([refresh_event("r-1", T0)])
    outcome: list[book.SyncProgress] = []
    # The indexer's transaction is open (as in a batch) when the sync's first page arrives.
    with book.book_transaction(store) as conn:
        rows = BookIndexer._not_applied(conn, BookIndexer(store)._next_batch(10))
        book.apply_event_rows(conn, rows)
        sync, errors = run_aside(
            lambda: outcome.append(
                BookSync(store, no_retry_client(settings), since=SYNC_SINCE).run()
            )
        )
        assert wait_until_blocked_or_done(store, sync), "the sync wrote beside the indexer"
    sync.join(60)
    assert not sync.is_alive() and not errors
    assert outcome[0].status == "done"
    assert queries.index_status(store).entities == len(sandbox.state.data.entities)


def test_the_text_indexer_does_not_skip_its_turn_while_the_book_is_written(
    pg_index: EventStore,
) -> None:
    store = pg_index
    old = datetime.now(UTC) - timedelta(minutes=5)  # settled: the text indexer takes it
    store.write_events([replace(refresh_event("r-text", T0), received_at=old)])
    with book.book_transaction(store):
        # The book's lock is held (a sync page being written): search indexing goes on.
        assert store.index_search_text() == 1
