"""The fleet of refreshes, book-wide: failure and partial rates by bank × data type × day, the
slowest refreshes, accounts whose transactions are repeatedly partial.

Every question is answered in SQL over the refresh index (`console.refresh_index`): the daily
rollup for rates, `index_refreshes` for durations, `index_refresh_cells` for accounts. Nothing
here loads events or parses bodies, so the answers stay fast at a million stored refresh events.
No Streamlit here; `console.ui_fleet` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import DateTime, Select, bindparam, func, select

from console.insights.bank_health import percent
from console.store import (
    ALL_DATA_TYPES,
    CELL_OUTCOMES,
    NO_BANK,
    EventStore,
    _aware,
    index_entities,
    index_refresh_cells,
    index_refresh_daily,
    index_refreshes,
)

R, CELLS, DAILY, E = index_refreshes, index_refresh_cells, index_refresh_daily, index_entities
_COUNTED = ("refreshes", *CELL_OUTCOMES)
WINDOWS = {"Last 7 days": 7, "Last 30 days": 30}
OUTCOME_WORDS = {
    "failed": "Data failed",
    "partial": "Data partial",
    "success": "Success",
    "pending": "Pending",
    "unknown": "Unknown",
}


class _Counted:
    """Rates over a count of refreshes by how they ended (shared by the rate dataclasses)."""

    refreshes: int
    success: int
    partial: int
    failed: int
    pending: int
    unsupported: int
    unknown: int

    @property
    def judged(self) -> int:
        """Refreshes that say something about the bank: unsupported ones never count against it."""
        return self.refreshes - self.unsupported

    def count(self, measure: str) -> int:
        """Refreshes ending as `measure`: failed, partial, or failed_or_partial."""
        if measure == "failed_or_partial":
            return self.failed + self.partial
        return int(getattr(self, measure))

    def rate(self, measure: str) -> float | None:
        """Share (0–1) of the judged refreshes ending as `measure`; None when none was judged."""
        return self.count(measure) / self.judged if self.judged else None


@dataclass(frozen=True)
class DailyRate(_Counted):
    """How the refreshes that finished on one day at one bank ended, for one data type (or all).

    `bank_identifier` is None for refreshes whose entity the book index does not know yet.
    """

    day: date
    bank_identifier: str | None
    data_type: str
    refreshes: int
    success: int = 0
    partial: int = 0
    failed: int = 0
    pending: int = 0
    unsupported: int = 0
    unknown: int = 0


def window_start(days: int, now: datetime | None = None) -> date:
    """The first day (UTC) of a window of `days` days ending today."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return today - timedelta(days=days - 1)


def daily_rates(
    store: EventStore, since: date, *, data_type: str = ALL_DATA_TYPES
) -> list[DailyRate]:
    """Per day × bank, how the refreshes finished from `since` on ended for `data_type` (or for
    the refresh as a whole: its worst data type), from the daily rollup."""
    statement = (
        select(DAILY)
        .where(DAILY.c.day >= since, DAILY.c.data_type == data_type, DAILY.c.refreshes > 0)
        .order_by(DAILY.c.bank_identifier, DAILY.c.day)
    )
    with store.connect() as conn:
        rows = conn.execute(statement).mappings().all()
    return [
        DailyRate(
            day=_day(row["day"]),
            bank_identifier=row["bank_identifier"] or None,
            data_type=row["data_type"],
            refreshes=row["refreshes"],
            success=row["success"],
            partial=row["partial"],
            failed=row["failed"],
            pending=row["pending"],
            unsupported=row["unsupported"],
            unknown=row["unknown"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class BankTypeRate(_Counted):
    """How the refreshes that finished in a window at one bank ended for one data type, or for
    the refresh as a whole (`data_type` = ALL_DATA_TYPES: its worst data type).

    `bank_identifier` is None for refreshes whose entity the book index does not know yet;
    `bank_name` is the bank's name from the book index, when one is known.
    """

    bank_identifier: str | None
    bank_name: str | None
    data_type: str
    refreshes: int
    success: int = 0
    partial: int = 0
    failed: int = 0
    pending: int = 0
    unsupported: int = 0
    unknown: int = 0


def _bank_name(identifier: Any) -> Any:
    """The bank's name from the book index: one indexed lookup per bank (every entity of a bank
    carries the same name from Lean, so any one of them answers)."""
    return (
        select(E.c.bank_name)
        .where(E.c.bank_identifier == identifier, E.c.bank_name.is_not(None), E.c.bank_name != "")
        .limit(1)
        .scalar_subquery()
    )


def bank_type_rates(store: EventStore, since: date) -> list[BankTypeRate]:
    """Per bank × data type (and the refresh as a whole), how the refreshes finished from `since`
    on ended: the daily rollup summed over the window in SQL, with each bank's name."""
    totals = (
        select(
            DAILY.c.bank_identifier,
            DAILY.c.data_type,
            *(func.sum(DAILY.c[name]).label(name) for name in _COUNTED),
        )
        .where(DAILY.c.day >= since)
        .group_by(DAILY.c.bank_identifier, DAILY.c.data_type)
        .having(func.sum(DAILY.c.refreshes) > 0)
        .subquery("totals")
    )
    statement = select(totals, _bank_name(totals.c.bank_identifier).label("bank_name")).order_by(
        totals.c.bank_identifier, totals.c.data_type
    )
    with store.connect() as conn:
        rows = conn.execute(statement).mappings().all()
    return [
        BankTypeRate(
            bank_identifier=row["bank_identifier"] or None,
            bank_name=(row["bank_name"] if row["bank_identifier"] else None),
            data_type=row["data_type"],
            **{name: int(row[name] or 0) for name in _COUNTED},
        )
        for row in rows
    ]


@dataclass(frozen=True)
class FleetCounts:
    """How many refreshes finished in the window, and how many of them have no known bank."""

    finished: int
    without_bank: int

    def describe(self, days: int) -> str:
        """The counts in words."""
        if not self.finished:
            return f"No refresh finished in the last {days} days."
        text = f"{self.finished:,} refreshes finished in the last {days} days"
        if not self.without_bank:
            return text + "; the bank of every one is known."
        share = self.without_bank / self.finished
        return (
            f"{text}; {self.without_bank:,} of them ({percent(share)}) have no known bank: the book "
            "index has not seen their entity yet (they are shown as “Bank not known”)."
        )


def fleet_counts(store: EventStore, since: date) -> FleetCounts:
    """Refreshes finished from `since` on, and how many of them have no known bank."""
    statement = select(
        func.coalesce(func.sum(DAILY.c.refreshes), 0),
        func.coalesce(
            func.sum(DAILY.c.refreshes).filter(DAILY.c.bank_identifier == NO_BANK),
            0,
        ),
    ).where(DAILY.c.day >= since, DAILY.c.data_type == ALL_DATA_TYPES)
    with store.connect() as conn:
        finished, without_bank = conn.execute(statement).one()
    return FleetCounts(int(finished), int(without_bank))


@dataclass(frozen=True)
class SlowRefresh:
    """One finished refresh and how long it took (first event to finished, by Lean's clock)."""

    refresh_id: str
    entity_id: str | None
    bank_identifier: str | None
    status: str | None
    outcome: str
    started_at: datetime | None
    finished_at: datetime
    duration_seconds: float
    accounts: int
    failed_cells: int
    partial_cells: int

    @property
    def outcome_words(self) -> str:
        """ "Data failed · FINISHED": the verdict on the data with Lean's word beside it."""
        word = OUTCOME_WORDS.get(self.outcome, self.outcome)
        return f"{word} · {self.status}" if self.status else word


def slowest_refreshes(
    store: EventStore, since: date, *, limit: int = 20, bank_identifier: str | None = None
) -> list[SlowRefresh]:
    """The longest-running refreshes finished from `since` on, longest first."""
    conditions = [
        R.c.finished_at >= datetime.combine(since, datetime.min.time()),
        R.c.duration_seconds.is_not(None),
    ]
    if bank_identifier:
        conditions.append(R.c.bank_identifier == bank_identifier)
    statement = (
        select(R)
        .where(*conditions)
        .order_by(R.c.duration_seconds.desc(), R.c.refresh_id)
        .limit(limit)
    )
    with store.connect() as conn:
        rows = conn.execute(statement).mappings().all()
    return [
        SlowRefresh(
            refresh_id=row["refresh_id"],
            entity_id=row["entity_id"],
            bank_identifier=row["bank_identifier"],
            status=row["status"],
            outcome=row["outcome"],
            started_at=_aware(row["started_at"]),
            finished_at=_aware(row["finished_at"]),  # type: ignore[arg-type]
            duration_seconds=float(row["duration_seconds"]),
            accounts=row["accounts"],
            failed_cells=row["failed_cells"],
            partial_cells=row["partial_cells"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class RepeatedlyPartial:
    """An account whose data type came back partial in `partial` of its last `out_of` refreshes."""

    account_id: str
    data_type: str
    partial: int
    out_of: int
    last_refresh_id: str
    last_finished_at: datetime
    entity_id: str | None
    bank_identifier: str | None

    def describe(self) -> str:
        """ "Partial in 4 of the last 5 refreshes"."""
        return f"Partial in {self.partial} of the last {self.out_of} refreshes"


def repeatedly_partial(
    store: EventStore,
    since: date,
    *,
    at_least: int = 3,
    of_last: int = 5,
    data_type: str = "transactions",
    limit: int = 200,
) -> list[RepeatedlyPartial]:
    """Accounts whose `data_type` was PARTIAL in at least `at_least` of their last `of_last`
    refreshes finished from `since` on; the most partial first."""
    statement = repeatedly_partial_statement(
        since, at_least=at_least, of_last=of_last, data_type=data_type, limit=limit
    )
    with store.connect() as conn:
        rows = conn.execute(statement).all()
    return [
        RepeatedlyPartial(
            account_id=account_id,
            data_type=data_type,
            partial=int(partial),
            out_of=int(out_of),
            last_refresh_id=refresh_id,
            last_finished_at=_aware(finished_at),  # type: ignore[arg-type]
            entity_id=entity_id,
            bank_identifier=bank,
        )
        for account_id, partial, out_of, refresh_id, finished_at, entity_id, bank in rows
    ]


def repeatedly_partial_statement(
    since: date, *, at_least: int, of_last: int, data_type: str, limit: int
) -> Select[Any]:
    """The statement of `repeatedly_partial`.

    Only accounts with that many partial cells in the window can qualify, so they are found first
    (by index); for each, its `of_last` newest cells in the window are read along the account's
    own index, newest first, so no account's whole history is ranked. The index holds what the
    ranking needs; only the `limit` accounts shown read their newest cell's row for its refresh
    (a page from disk each when cold: for all 5,949 candidates of 30 days at a million
    refreshes the question took 1.5 s cold).
    """
    start = bindparam("start", datetime.combine(since, datetime.min.time()), type_=DateTime())
    candidates = (
        select(CELLS.c.account_id)
        .where(
            CELLS.c.data_type == data_type,
            CELLS.c.status == "PARTIAL",
            CELLS.c.finished_at >= start,
        )
        .group_by(CELLS.c.account_id)
        .having(func.count() >= at_least)
        .subquery("candidates")
    )
    own = CELLS.alias("own")

    def newest(account: Any, outer: Any, *columns: Any, n: int) -> Any:
        """The account's `n` newest cells of the data type in the window. Ordered by time and
        with no status in its filter, SQLite reads them from the account's index: with the
        status as a filter it read every PARTIAL cell of the window once per candidate
        (ix_index_refresh_cells_type_status) and took 6-26 s at a million refreshes."""
        return (
            select(*columns)
            .where(
                own.c.account_id == account,
                own.c.data_type == data_type,
                own.c.finished_at >= start,
            )
            .order_by(own.c.finished_at.desc())
            .limit(n)
            .correlate(outer)  # inside a derived table too: the outer account's cells
        )

    last = newest(
        candidates.c.account_id, candidates, own.c.status, own.c.finished_at, n=of_last
    ).subquery("last")
    partial = (
        select(func.count()).select_from(last).where(last.c.status == "PARTIAL").scalar_subquery()
    )
    out_of = select(func.count()).select_from(last).scalar_subquery()
    newest_at = select(func.max(last.c.finished_at)).scalar_subquery()
    counted = select(
        candidates.c.account_id,
        partial.label("partial"),
        out_of.label("out_of"),
        newest_at.label("newest_at"),
    ).subquery("counted")
    order = (counted.c.partial.desc(), counted.c.newest_at.desc(), counted.c.account_id)
    found = (
        select(counted).where(counted.c.partial >= at_least).order_by(*order).limit(limit)
    ).subquery("found")
    last_refresh = newest(found.c.account_id, found, own.c.refresh_id, n=1).scalar_subquery()
    shown = select(found, last_refresh.label("refresh_id")).subquery("shown")
    return (
        select(
            shown.c.account_id,
            shown.c.partial,
            shown.c.out_of,
            shown.c.refresh_id,
            R.c.finished_at,
            R.c.entity_id,
            R.c.bank_identifier,
        )
        .outerjoin(R, R.c.refresh_id == shown.c.refresh_id)
        .order_by(shown.c.partial.desc(), shown.c.newest_at.desc(), shown.c.account_id)
    )


def refresh_link(entity_id: str | None, refresh_id: str | None = None) -> str:
    """The console's own link to a refresh on the refreshes screen."""
    query = {"entity_id": entity_id or ""}
    if refresh_id:
        query["refresh_id"] = refresh_id
    return "/refreshes?" + urlencode(query)


def describe_seconds(seconds: float) -> str:
    """A duration in words an operator reads at a glance: "45 s", "12 min 5 s", "2 h 3 min"."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _day(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
