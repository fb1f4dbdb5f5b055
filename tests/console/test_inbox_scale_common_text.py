"""The inbox's plans for common matches, at test size: a filter or a search text the sample finds
common is read along the inbox's order (no text index, no filter index read whole), and its pages
are exactly the ones the indexes give; the total says "about"."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text

from console import events as inbox
from console import store as store_module
from console.events import InboxPage, InboxView, inbox_page, sample_rows
from console.store import EventFilter, EventRecord, EventStore, events, index_entities

NOW = datetime.now(UTC).replace(microsecond=0)
REFRESH = "entity.data.refresh.updated"
RARE = "needle-Ωxyz"
EVENTS = 240
# ent-0..2 are BANK_A's connections, ent-3..5 BANK_B's (the book index says so); refresh events
# name only their entity.
BANK_OF = {f"ent-{n}": "BANK_A" if n < 3 else "BANK_B" for n in range(6)}


def record(n: int) -> EventRecord:
    """The n-th newest event: mostly refreshes (FINISHED when n is even), every tenth a consent
    change naming its bank; event 7 is one of BANK_A's connections naming BANK_B itself."""
    entity = f"ent-{n % 6}"
    kind = "entity.updated" if n % 10 == 0 else REFRESH
    status = "FINISHED" if n % 2 == 0 else "PENDING"
    bank = None if kind == REFRESH else BANK_OF[entity]
    if n == 7:
        entity, bank = "ent-0", "BANK_B"
    note = RARE if n in (3, 120, 201) else "<b>*plain*</b> 100%"
    event_id = f"evt-{n:04d}"
    body = json.dumps(
        {"type": kind, "event_id": event_id, "payload": {"status": status, "note": note}},
        ensure_ascii=False,
    )
    # Two by two at the same time (the order's tie is the row id); settled: PostgreSQL's text
    # index takes them.
    at = NOW - timedelta(minutes=n // 2 + 1)
    return EventRecord(
        event_id=event_id,
        type=kind,
        message=None,
        lean_timestamp=at,
        received_at=at,
        verified=n % 17 != 0,
        source_ip="127.0.0.1",
        payload=body,
        size=len(body),
        entity_id=entity,
        customer_id=f"cus-{n % 6}",
        bank_identifier=bank,
        status=status,
    )


@pytest.fixture
def book(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> EventStore:
    """`EVENTS` events stored out of time order (row ids do not follow time), text-indexed, with
    a sample of a quarter of them, matches "common" from 5 sampled hits on and totals over 40
    estimated."""
    order = list(range(EVENTS))
    random.Random(11).shuffle(order)
    store.write_events([record(n) for n in order])
    while store.index_search_text(limit=100):
        pass
    with store.connect(write=True) as conn:
        conn.execute(
            insert(index_entities),
            [
                {"entity_id": e, "customer_id": "cus", "bank_identifier": b, "last_seen_at": NOW}
                for e, b in BANK_OF.items()
            ],
        )
    monkeypatch.setattr(inbox, "SAMPLE_SIZE", 60)
    monkeypatch.setattr(inbox, "DENSE_HITS", 5)
    monkeypatch.setattr(inbox, "COUNT_CAP", 40)
    return store


def every_page(store: EventStore, view: InboxView, page_size: int = 50) -> list[InboxPage]:
    # Time windows ("last hour") end at the events' own NOW: against the clock, an event on the
    # window's edge left it between two readings of the same view.
    pages = [inbox_page(store, view, page_size=page_size, now=NOW)]
    while pages[-1].older is not None:
        last = pages[-1]
        later = replace(view, asof=last.asof, before=last.older)
        pages.append(inbox_page(store, later, page_size=page_size, now=NOW))
    return pages


def ids(pages: list[InboxPage]) -> list[str]:
    return [e.event_id for page in pages for e in page.items]


def newest_first(store: EventStore, flt: EventFilter) -> list[str]:
    """The naive answer: every match through the store's own query, newest first."""
    return [e.event_id for e in store.query_events(flt, limit=10_000)]


class Asked:
    """Records what the text index is asked (the real index answers)."""

    def __init__(self, store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[str] = []
        real = store.text_candidates

        def candidates(needle: str, *, limit: int, **among: Any) -> Any:
            self.texts.append(needle)
            return real(needle, limit=limit, **among)

        monkeypatch.setattr(store, "text_candidates", candidates)


def test_a_common_word_is_the_newest_matches_without_the_text_index(
    book: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = Asked(book, monkeypatch)
    expected = newest_first(book, EventFilter(text="finished"))
    assert len(expected) == EVENTS // 2
    pages = every_page(book, InboxView(text="finished", range="all"))
    first = pages[0]
    assert [e.event_id for e in first.items] == expected[:50]
    assert first.total_estimated and first.position_words.startswith("1–50 of about ")
    assert ids(pages) == expected
    assert pages[1].start == 50 and pages[2].start == 100
    assert asked.texts == []


def test_a_rare_word_is_found_through_the_text_index(
    book: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = Asked(book, monkeypatch)
    page = inbox_page(book, InboxView(text=RARE.upper(), range="all"))
    assert [e.event_id for e in page.items] == ["evt-0003", "evt-0120", "evt-0201"]
    assert page.position_words == "1–3 of 3"
    assert asked.texts == [RARE.upper()]


def test_markup_in_a_common_text_is_only_text(book: EventStore) -> None:
    expected = newest_first(book, EventFilter(text="<b>*plain*</b> 100%"))
    assert len(expected) == EVENTS - 3
    assert ids(every_page(book, InboxView(text="<b>*plain*</b> 100%", range="all"))) == expected


COMMON_VIEWS = {
    "bank A": InboxView(bank="BANK_A", range="all"),
    "bank B": InboxView(bank="BANK_B", range="all"),
    "status": InboxView(status="FINISHED", range="all"),
    "type": InboxView(types=(REFRESH,), range="all"),
    "two types": InboxView(types=(REFRESH, "entity.updated"), range="all"),
    "bank + type + status": InboxView(
        bank="BANK_A", types=(REFRESH,), status="FINISHED", range="all"
    ),
    "bank, last hour": InboxView(bank="BANK_B", range="1h"),
    "common word + bank": InboxView(bank="BANK_A", text="FINISHED", range="all"),
}


def test_common_filters_page_exactly_as_the_indexes_do(
    book: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    along_the_order = {name: every_page(book, v, 29) for name, v in COMMON_VIEWS.items()}
    monkeypatch.setattr(inbox, "WALK_CHUNK", (7, 7))  # a walk of many steps, ties among them
    in_steps = {name: every_page(book, v, 29) for name, v in COMMON_VIEWS.items()}
    monkeypatch.setattr(inbox, "WALK_BUDGET", 0)  # matches not met soon: the indexes take over
    given_up = {name: every_page(book, v, 29) for name, v in COMMON_VIEWS.items()}
    for other in (in_steps, given_up):
        assert {name: ids(pages) for name, pages in other.items()} == {
            name: ids(pages) for name, pages in along_the_order.items()
        }
    monkeypatch.setattr(inbox, "DENSE_HITS", 10**9)  # nothing is common: the indexes serve
    for name, view in COMMON_VIEWS.items():
        through_indexes = every_page(book, view, 29)
        assert ids(along_the_order[name]) == ids(through_indexes) and ids(through_indexes), name
        assert [(p.start, p.newer, p.older) for p in along_the_order[name]] == [
            (p.start, p.newer, p.older) for p in through_indexes
        ], name
    assert "evt-0007" not in ids(along_the_order["bank A"])  # names BANK_B itself
    assert "evt-0007" in ids(along_the_order["bank B"])


def test_new_events_are_counted_whichever_way_they_are_read(
    book: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = InboxView(status="FINISHED", range="all")
    first = inbox_page(book, view)
    later = [record(1000 + n) for n in range(9)]  # five FINISHED, four PENDING
    book.write_events(later)
    again = replace(view, asof=first.asof)
    assert inbox_page(book, again).new_events == 5
    monkeypatch.setattr(inbox, "NEW_ROWS_READ", 0)  # too many to read one by one: the index
    assert inbox_page(book, again).new_events == 5


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_sqlite_reads_a_common_filter_along_the_occurred_index(book: EventStore) -> None:
    """Without statistics SQLite picks the index an equality names, then reads and sorts every
    match (the bank's page took 0.8 s at a million events); along the occurred index it stops
    after a page."""
    statements: list[tuple[str, Any]] = []

    @event.listens_for(book.engine, "before_cursor_execute")
    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    first = inbox_page(book, InboxView(bank="BANK_A", range="all"), page_size=10)
    inbox_page(book, InboxView(bank="BANK_A", range="all", asof=first.asof, before=first.older))
    event.remove(book.engine, "before_cursor_execute", keep)
    walks, news = [], []
    with book.connect() as conn:
        for statement, params in statements:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            words = " / ".join(row[-1] for row in plan)
            if " AS hit" in statement:
                # The chunk read off the index (what the walk sorts is that chunk, not the
                # filter's every match).
                step = next(row[0] for row in plan if row[-1] == "MATERIALIZE step")
                walks.append(" / ".join(row[-1] for row in plan if row[1] == step))
            elif "WHERE webhook_events.id > ?" in statement:
                news.append(words)
    assert len(walks) >= 3 and len(news) == 2  # page 1; page 2 and the rows above it
    for plan in walks:
        assert plan.split(" (")[0].split(" ", 1)[1] == (
            "webhook_events USING INDEX ix_webhook_events_occurred"
        ), plan
    for plan in news:
        assert "INTEGER PRIMARY KEY" in plan, plan


def test_a_sample_tests_several_conditions_at_once(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_events([record(n) for n in range(40)])
    finished = events.c.status == "FINISHED"
    refresh = events.c.type == REFRESH
    with store.connect() as conn:
        low, high = conn.execute(text("SELECT min(id), max(id) FROM webhook_events")).one()
        whole = sample_rows(conn, [finished, refresh], low, high, seed=1)
        monkeypatch.setattr(inbox, "SAMPLE_SIZE", 30)
        part = sample_rows(conn, [finished, refresh], low, high + 40, seed=1)
    assert whole.whole and whole.hits == (20, 36)
    assert whole.count(0).value == 20 and not whole.count(0).estimated
    assert not whole.dense(0)  # every id read: a count, not a density
    assert not part.whole and part.count(1).estimated
    assert part.present <= 40 and part.hits[1] <= part.present


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_postgres_analyzes_the_text_index_once_it_has_grown(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "SEARCH_ANALYZE_PAGES", 0)
    store.write_events([record(n) for n in range(1, 31)])  # all settled (a minute old or more)
    query = text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('webhook_events_search')")
    with store.connect() as conn:
        assert conn.execute(query).scalar() < 0  # never analyzed
    assert store.index_search_text(limit=10) == 10  # a whole batch: catching up
    with store.connect() as conn:
        assert conn.execute(query).scalar() == 10
    assert store.index_search_text(limit=50) == 20  # caught up: no statistics taken
    with store.connect() as conn:
        assert conn.execute(query).scalar() == 10


def test_a_filter_one_sorted_index_serves_is_read_through_it() -> None:
    """One column's index holds its matches in the inbox's order: no walk along the order, which
    reads rows (two types, one of them all at the old end, took 0.3 s walking at a million)."""
    sorted_by = inbox._sorted_by_index
    assert sorted_by(InboxView(types=(REFRESH,), range="7d"), 900_000)
    assert sorted_by(InboxView(status="FINISHED"), 900_000)
    assert sorted_by(InboxView(types=(REFRESH, "entity.updated")), 20_000)
    assert not sorted_by(InboxView(types=(REFRESH, "entity.updated")), 900_000)
    assert not sorted_by(InboxView(bank="BANK_A"), 20_000)
    assert not sorted_by(InboxView(types=(REFRESH,), status="FINISHED"), 20_000)
    assert not sorted_by(InboxView(status="FINISHED", text="x"), 20_000)
    assert not sorted_by(InboxView(), 20_000)
