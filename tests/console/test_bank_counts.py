"""Counting the inbox by bank when most of a bank's events name only their entity (refreshes):
the capped count may read the bank's connections in another form than the page
(`BANK_ARRAY_ENTITIES`), and both must name the same events, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from console import book
from console import events as events_module
from console.events import InboxView, inbox_page
from console.store import INDEX_TABLES, EventFilter, EventStore
from lean_api.models import Entity
from tests.console.test_refresh_index import refresh_event

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BANK = "BANK07_SAMAOB_SAU"
REFRESH = "entity.data.refresh.updated"


def entity_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture
def spread(store: EventStore) -> Iterator[EventStore]:
    """3,000 refresh events over 60 entities at 20 banks (bank 7 holds entities 7, 27, 47),
    and a few events that name bank 7 themselves."""
    with store.engine.begin() as conn:
        for table in INDEX_TABLES:
            conn.execute(delete(table))
    with book.book_transaction(store) as conn:
        for n in range(60):
            entity = Entity.model_validate(
                {
                    "id": entity_id(n),
                    "customer_id": "6d1675c1-7671-47fd-9814-26123733ef91",
                    "bank_identifier": f"BANK{n % 20:02d}_SAMAOB_SAU",
                }
            )
            book.upsert_entity(conn, entity, stamp=NOW, seen_at=NOW, synced=True)
    records = []
    for n in range(3000):
        status = "FINISHED" if n % 3 else "PENDING"
        records.append(
            refresh_event(
                f"spread-{n}",
                NOW - timedelta(minutes=n),
                status,
                refresh_id=f"refresh-{n}",
                entity_id=entity_id(n % 60),
            )
        )
    store.write_events(records)
    named = [
        replace(
            refresh_event(f"named-{n}", NOW - timedelta(hours=n), entity_id=entity_id(99)),
            bank_identifier=BANK,
        )
        for n in range(5)
    ]
    store.write_events(named)
    yield store


@pytest.mark.parametrize("array_up_to", [events_module.BANK_ARRAY_ENTITIES, 2])
def test_counts_by_bank_agree_with_the_rows_they_count(
    spread: EventStore, array_up_to: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With few connections the count takes them as an array (PostgreSQL), with many `IN`.
    monkeypatch.setattr(events_module, "BANK_ARRAY_ENTITIES", array_up_to)
    ours = {entity_id(7), entity_id(27), entity_id(47)}
    expected_all = sum(1 for n in range(3000) if entity_id(n % 60) in ours) + 5
    expected_finished = sum(1 for n in range(3000) if entity_id(n % 60) in ours and n % 3) + 5
    assert spread.count_events(EventFilter(bank_identifier=BANK)) == expected_all
    page = inbox_page(spread, InboxView(bank=BANK, range="all"), now=NOW)
    assert (page.total, page.total_estimated) == (expected_all, False)
    finished = InboxView(bank=BANK, types=(REFRESH,), status="FINISHED", range="all")
    page = inbox_page(spread, finished, now=NOW)
    assert (page.total, page.total_estimated) == (expected_finished, False)
    assert len(page.items) == 50
    assert {item.entity_id for item in page.items} <= ours | {entity_id(99)}
    # A later page's position is counted in the same form.
    second = inbox_page(spread, replace(finished, before=page.older), now=NOW)
    assert second.start == 50 and second.total == expected_finished
    # A bank with no entities and no events of its own.
    assert spread.count_events(EventFilter(bank_identifier="NO_SUCH_BANK")) == 0
    assert inbox_page(spread, InboxView(bank="NO_SUCH_BANK", range="all"), now=NOW).total == 0
