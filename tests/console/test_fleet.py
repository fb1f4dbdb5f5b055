"""Fleet questions answered in SQL over the refresh index, on constructed histories."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from console import fleet
from console.book import BookIndexer
from console.store import EventRecord, EventStore
from tests.console.test_book import entity_event
from tests.console.test_refresh_index import index, refresh_event  # noqa: F401

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
D1 = NOW - timedelta(days=1)
D2 = NOW - timedelta(days=2)
SNB_ENTITY = "00000000-0000-4000-8000-00000000e001"
RJHI_ENTITY = "00000000-0000-4000-8000-00000000e002"
UNKNOWN_ENTITY = "00000000-0000-4000-8000-00000000e003"


def finished(
    refresh_id: str, entity: str, at: datetime, took: timedelta | None = None, **types: str
) -> list[EventRecord]:
    """A refresh of one account, with its PENDING event `took` before it finished."""
    events = [
        refresh_event(
            f"{refresh_id}-fin", at, "FINISHED", {"acc": types}, refresh_id=refresh_id,
            entity_id=entity,
        )
    ]  # fmt: skip
    if took is not None:
        events.append(
            refresh_event(
                f"{refresh_id}-pend", at - took, "PENDING", {"acc": {"balance": "PENDING"}},
                refresh_id=refresh_id, entity_id=entity,
            )
        )  # fmt: skip
    return events


def named(event: EventRecord, name: str) -> EventRecord:
    """The entity event with the bank's name Lean gives beside its identifier."""
    body = json.loads(event.payload)
    body["payload"]["bank_details"]["name"] = name
    text = json.dumps(body)
    return replace(event, payload=text, size=len(text))


@pytest.fixture
def history(index: EventStore) -> EventStore:  # noqa: F811
    index.write_events(
        [
            named(entity_event("snb", "entity.created", D2 - timedelta(days=3), entity_id=SNB_ENTITY, bank="SNB"), "Saudi National Bank"),
            entity_event("rjhi", "entity.created", D2 - timedelta(days=3), entity_id=RJHI_ENTITY, bank="RJHI"),
            *finished("A", SNB_ENTITY, D1, timedelta(minutes=30), balance="FAILED", transactions="PARTIAL"),
            *finished("B", SNB_ENTITY, D1 + timedelta(hours=1), balance="OK", transactions="SUCCESS"),
            *finished("C", SNB_ENTITY, D2, timedelta(hours=1), balance="UNSUPPORTED", transactions="PARTIAL"),
            *finished("D", RJHI_ENTITY, D1, timedelta(seconds=40), balance="SUCCESS"),
            refresh_event("E-pend", D1, "PENDING", refresh_id="E", entity_id=RJHI_ENTITY),
            *finished("F", UNKNOWN_ENTITY, D1, balance="SUCCESS"),
        ]
    )  # fmt: skip
    BookIndexer(index).apply_pending()
    return index


def test_rates_by_bank_and_day_for_the_refresh_as_a_whole(history: EventStore) -> None:
    rates = {(r.bank_identifier, r.day): r for r in fleet.daily_rates(history, D2.date())}
    assert set(rates) == {
        ("SNB", D1.date()),
        ("SNB", D2.date()),
        ("RJHI", D1.date()),
        (None, D1.date()),
    }
    snb = rates[("SNB", D1.date())]
    assert (snb.refreshes, snb.failed, snb.success, snb.partial) == (2, 1, 1, 0)
    assert snb.rate("failed") == 0.5 and snb.rate("partial") == 0.0
    assert rates[("SNB", D2.date())].rate("failed_or_partial") == 1.0
    assert rates[("RJHI", D1.date())].refreshes == 1  # the pending refresh is not counted
    assert rates[(None, D1.date())].success == 1


def test_rates_for_one_data_type_leave_unsupported_out(history: EventStore) -> None:
    rates = {
        (r.bank_identifier, r.day): r
        for r in fleet.daily_rates(history, D2.date(), data_type="balance")
    }
    assert rates[("SNB", D1.date())].rate("failed") == 0.5
    unsupported = rates[("SNB", D2.date())]
    assert (unsupported.refreshes, unsupported.unsupported, unsupported.judged) == (1, 1, 0)
    assert unsupported.rate("failed") is None
    transactions = fleet.daily_rates(history, D1.date(), data_type="transactions")
    assert [(r.bank_identifier, r.partial, r.success) for r in transactions] == [("SNB", 1, 1)]


def test_counts_say_how_many_refreshes_have_no_known_bank(history: EventStore) -> None:
    counts = fleet.fleet_counts(history, D2.date())
    assert (counts.finished, counts.without_bank) == (5, 1)
    assert counts.describe(7) == (
        "5 refreshes finished in the last 7 days; 1 of them (20%) have no known bank: the book "
        "index has not seen their entity yet (they are shown as “Bank not known”)."
    )
    assert fleet.fleet_counts(history, NOW.date() + timedelta(days=1)).describe(7) == (
        "No refresh finished in the last 7 days."
    )


def test_the_slowest_refreshes_come_first_with_their_outcome_in_words(history: EventStore) -> None:
    slow = fleet.slowest_refreshes(history, D2.date(), limit=3)
    assert [
        (s.refresh_id, s.duration_seconds, s.outcome_words, s.bank_identifier) for s in slow
    ] == [
        ("C", 3600.0, "Data partial · FINISHED", "SNB"),
        ("A", 1800.0, "Data failed · FINISHED", "SNB"),
        ("D", 40.0, "Success · FINISHED", "RJHI"),
    ]
    assert [s.refresh_id for s in fleet.slowest_refreshes(history, D1.date(), limit=1)] == ["A"]
    only_rjhi = fleet.slowest_refreshes(history, D2.date(), bank_identifier="RJHI")
    assert [s.refresh_id for s in only_rjhi] == ["D"]
    assert fleet.refresh_link(SNB_ENTITY, "C") == f"/refreshes?entity_id={SNB_ENTITY}&refresh_id=C"
    assert fleet.describe_seconds(3725) == "1 h 2 min"


def test_accounts_whose_transactions_are_repeatedly_partial(index: EventStore) -> None:  # noqa: F811
    words = ["PARTIAL", "PARTIAL", "SUCCESS", "PARTIAL", "SUCCESS", "PARTIAL"]  # newest first
    events = [entity_event("snb", "entity.created", D2, entity_id=SNB_ENTITY, bank="SNB")]
    for n, word in enumerate(words):
        events.append(
            refresh_event(
                f"x{n}", D1 - timedelta(days=n), "FINISHED", {"acc-x": {"transactions": word}},
                refresh_id=f"rx{n}", entity_id=SNB_ENTITY,
            )
        )  # fmt: skip
    # acc-y was partial three times, but before the window.
    for n in range(3):
        events.append(
            refresh_event(
                f"y{n}", D1 - timedelta(days=20 + n), "FINISHED",
                {"acc-y": {"transactions": "PARTIAL"}}, refresh_id=f"ry{n}", entity_id=RJHI_ENTITY,
            )
        )  # fmt: skip
    index.write_events(events)
    BookIndexer(index).apply_pending()
    since = (NOW - timedelta(days=10)).date()
    found = fleet.repeatedly_partial(index, since, at_least=3, of_last=5)
    assert [(a.account_id, a.partial, a.out_of, a.last_refresh_id, a.bank_identifier) for a in found] == [
        ("acc-x", 3, 5, "rx0", "SNB")
    ]  # fmt: skip
    assert found[0].describe() == "Partial in 3 of the last 5 refreshes"
    assert fleet.repeatedly_partial(index, since, at_least=3, of_last=3) == []
    assert [a.partial for a in fleet.repeatedly_partial(index, since, at_least=4, of_last=6)] == [4]
    longer = fleet.repeatedly_partial(index, (NOW - timedelta(days=40)).date(), at_least=3)
    assert {a.account_id for a in longer} == {"acc-x", "acc-y"}


def test_rates_by_bank_and_data_type_over_the_window_are_summed_in_sql(
    history: EventStore,
) -> None:
    rates = {(r.bank_identifier, r.data_type): r for r in fleet.bank_type_rates(history, D2.date())}
    counted = ("refreshes", "success", "partial", "failed", "pending", "unsupported", "unknown")
    numbers = {key: tuple(getattr(rate, n) for n in counted) for key, rate in rates.items()}
    assert numbers == {
        # SNB: A failed balance and partial transactions, B all fine, C partial transactions
        # with balance unsupported (the day before).
        ("SNB", "all"): (3, 1, 1, 1, 0, 0, 0),
        ("SNB", "balance"): (3, 1, 0, 1, 0, 1, 0),
        ("SNB", "transactions"): (3, 1, 2, 0, 0, 0, 0),
        ("RJHI", "all"): (1, 1, 0, 0, 0, 0, 0),
        ("RJHI", "balance"): (1, 1, 0, 0, 0, 0, 0),
        (None, "all"): (1, 1, 0, 0, 0, 0, 0),
        (None, "balance"): (1, 1, 0, 0, 0, 0, 0),
    }
    assert rates[("SNB", "balance")].rate("failed") == 0.5  # the unsupported one not judged
    assert rates[("SNB", "all")].rate("failed_or_partial") == pytest.approx(2 / 3)
    names = {key: rate.bank_name for key, rate in rates.items() if key[1] == "all"}
    assert names == {
        ("SNB", "all"): "Saudi National Bank",
        ("RJHI", "all"): "Al Rajhi Bank",
        (None, "all"): None,
    }
    one_day = fleet.bank_type_rates(history, D1.date())
    assert {(r.bank_identifier, r.data_type): r.refreshes for r in one_day}[("SNB", "all")] == 2
    assert fleet.bank_type_rates(history, NOW.date() + timedelta(days=1)) == []


@pytest.mark.parametrize(
    "newest_index", ["ix_index_refresh_cells_type_status", "ix_index_refresh_cells_account"]
)
def test_repeatedly_partial_reads_each_candidate_through_its_account_whichever_index_sqlite_made_last(
    tmp_path: Path, newest_index: str
) -> None:
    """With no statistics SQLite breaks a tie between two indexes by the order they were made,
    and a fresh database makes a table's indexes in no fixed order. Counted with the status as a
    filter, one order read every PARTIAL cell of the window once per candidate account: 6 s for
    7 days and 26 s for 30 at a million refreshes (`tests.bench.fleet_million`), 40 and 110-130 ms
    read along the account's index."""
    store = EventStore(f"sqlite:///{tmp_path / 'fleet.db'}")
    store.migrate()
    with store.engine.begin() as conn:
        sql = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE name = :name"), {"name": newest_index}
        ).scalar_one()
        conn.execute(text(f"DROP INDEX {newest_index}"))
        conn.execute(text(sql))  # now the last index of the table
    statement = fleet.repeatedly_partial_statement(
        (NOW - timedelta(days=7)).date(), at_least=3, of_last=5, data_type="transactions", limit=200
    )
    compiled = statement.compile(store.engine, compile_kwargs={"literal_binds": True})
    with store.engine.connect() as conn:
        plan = [row[3] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
    reads_of_own = [step for step in plan if step.startswith("SEARCH own")]
    assert reads_of_own and all(
        "ix_index_refresh_cells_account (account_id=?" in step for step in reads_of_own
    ), plan
    store.dispose()
