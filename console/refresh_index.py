"""The refresh index: stored `entity.data.refresh.updated` webhooks → `index_refreshes`,
`index_refresh_cells` and the daily rollup `index_refresh_daily`.

Each refresh keeps the state of its latest event by Lean's clock (timestamp, then the
nanoseconds past the microsecond, then the event id for exact ties), whatever order the events
arrived in; applying an event twice changes nothing. The daily rollup counts, per finished day ×
bank × data type, how the refreshes ended: when a newer state replaces an older one, the older
one's counts are taken back out first, so the rollup always equals a count over the index.

The bank comes from the book index (`index_entities`) when the event is applied; an entity the
index learns later gives its bank to its refreshes then (`backfill_bank`). No Streamlit here; the
book indexer (`console.book.BookIndexer`) calls in, and `console.fleet` asks the questions.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from console.store import (
    ALL_DATA_TYPES,
    CELL_OUTCOMES,
    NO_BANK,
    _aware,
    _utc_naive,
    fit,
    fit_event_id,
    index_entities,
    index_refresh_cells,
    index_refresh_daily,
    index_refreshes,
)
from lean_api.models import (
    ACCOUNT_DATA_TYPES,
    normalize_data_status,
    normalize_refresh_status,
    parse_lean_datetime,
)

REFRESH_EVENT = "entity.data.refresh.updated"
R, CELLS, DAILY = index_refreshes, index_refresh_cells, index_refresh_daily

_CELL_OUTCOME = {
    "SUCCESS": "success",
    "PARTIAL": "partial",
    "FAILED": "failed",
    "PENDING": "pending",
    "UNSUPPORTED": "unsupported",
}
# Worst first. An unknown word is worse than partial: nobody can say the data is there.
# Unsupported never counts against a refresh.
_RANK = {"failed": 0, "unknown": 1, "partial": 2, "pending": 3, "success": 4, "unsupported": 5}
_CHUNK = 500  # ids per IN (…) list


class UnreadableRefresh(ValueError):
    """The stored event cannot say anything about a refresh (not JSON, no refresh_id)."""


def cell_outcome(status: str | None) -> str:
    """A normalised data-type status as one of `CELL_OUTCOMES` (any other word is unknown)."""
    return _CELL_OUTCOME.get(status or "", "unknown")


@dataclass(frozen=True)
class RefreshState:
    """One refresh event, read: what the refresh looked like at `stamp`."""

    refresh_id: str
    event_id: str
    entity_id: str | None
    customer_id: str | None
    status: str | None  # Lean's word as sent
    finished: bool
    stamp: datetime | None  # naive UTC, Lean's clock
    stamp_ns: int
    occurred_at: datetime  # naive UTC: Lean's timestamp, else arrival
    created_at: datetime | None  # naive UTC, when the payload says when the refresh started
    # (account_id, data type) → (normalised word, Lean's word)
    cells: dict[tuple[str, str], tuple[str | None, str]] = field(default_factory=dict)
    accounts: int = 0

    @property
    def order_key(self) -> tuple[Any, ...]:
        """Later states sort higher: stamped over stamp-less, then Lean's clock, then event id."""
        return _order_key(self.stamp, self.stamp_ns, self.event_id, self.finished)

    def type_outcomes(self) -> dict[str, str]:
        """Per data type, the worst outcome over the accounts."""
        worst: dict[str, str] = {}
        for (_account, data_type), (status, _raw) in self.cells.items():
            outcome = cell_outcome(status)
            if data_type not in worst or _RANK[outcome] < _RANK[worst[data_type]]:
                worst[data_type] = outcome
        return {t: worst[t] for t in sorted(worst, key=_type_order)}

    def outcome(self, type_outcomes: dict[str, str] | None = None) -> str:
        """The refresh's worst data-type outcome: success, partial, failed, pending or unknown
        (`type_outcomes`, when given, is this state's `type_outcomes()`)."""
        if type_outcomes is None:
            type_outcomes = self.type_outcomes()
        counted = [o for o in type_outcomes.values() if o != "unsupported"]
        worst = min(counted, key=_RANK.__getitem__) if counted else None
        word = normalize_refresh_status(self.status)
        if worst in ("failed", "unknown", "partial"):
            return worst
        if word == "PENDING":
            return "pending"
        if word != "FINISHED" or not self.cells:
            return "unknown"
        return worst or "success"  # every data type unsupported counts as nothing wrong


def _type_order(data_type: str) -> tuple[int, str]:
    known = ACCOUNT_DATA_TYPES
    return (known.index(data_type) if data_type in known else len(known), data_type)


def _order_key(
    stamp: datetime | None, ns: int | None, event_id: str | None, finished: bool = False
) -> tuple[Any, ...]:
    # At the very same instant a FINISHED event wins, as on the refresh screen.
    return (stamp is not None, stamp or datetime.min, int(ns or 0), finished, event_id or "")


# Lean's refreshes began long after this; a date before it, or days ahead of the event that
# carries it, is a broken clock or a forged payload, and would make a duration of centuries.
EARLIEST_PLAUSIBLE = datetime(2015, 1, 1)


def plausible_start(created_at: datetime | None, occurred_at: datetime) -> datetime | None:
    """`created_at` when it can be the start of a refresh reported at `occurred_at`; else None."""
    if created_at is None or created_at < EARLIEST_PLAUSIBLE:
        return None
    if created_at > occurred_at + timedelta(days=1):
        return None
    return created_at


def read_refresh(row: Any) -> RefreshState:
    """The refresh in a stored event row (payload, ids and Lean's timestamp).

    Raises `UnreadableRefresh` when the body says nothing about a refresh.
    """
    try:
        body = json.loads(row["payload"])
    except (ValueError, TypeError):
        raise UnreadableRefresh("the stored body is not JSON") from None
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, dict):
        raise UnreadableRefresh("the event has no payload object")
    refresh_id = _word(payload.get("refresh_id")) or _word(row.get("refresh_id"))
    if not refresh_id:
        raise UnreadableRefresh("the refresh event names no refresh_id")
    entity_id = _word(payload.get("entity_id")) or _word(row.get("entity_id"))
    stamp = _utc_naive(_aware(row["lean_timestamp"]))
    received = _utc_naive(_aware(row["received_at"])) or _utc_naive(datetime.now(UTC))
    status = _word(payload.get("status"))
    cells: dict[tuple[str, str], tuple[str | None, str]] = {}
    data_status = payload.get("data_status")
    accounts = data_status.get("account_data") if isinstance(data_status, dict) else None
    account_ids: set[str] = set()
    for position, account in enumerate(accounts if isinstance(accounts, list) else []):
        if not isinstance(account, dict):
            continue
        account_id = fit(_word(account.get("account_id")) or f"#{position + 1}", 64) or "?"
        account_ids.add(account_id)
        for data_type in ACCOUNT_DATA_TYPES:
            word = _status_word(account.get(data_type))
            if word is not None:  # None: not reported for this account
                cells.setdefault((account_id, data_type), word)
    return RefreshState(
        refresh_id=fit(refresh_id, 64) or refresh_id[:64],
        event_id=fit_event_id(str(row.get("event_id") or f"row:{row.get('id')}")),
        entity_id=fit(entity_id.lower(), 64) if entity_id else None,
        customer_id=fit(
            (_word(payload.get("customer_id")) or _word(row.get("customer_id")) or "").lower()
            or None,
            64,
        ),
        status=fit(status, 64),
        finished=normalize_refresh_status(status) == "FINISHED",
        stamp=stamp,
        stamp_ns=min(max(int(row.get("lean_timestamp_ns") or 0), 0), 999),
        occurred_at=stamp or received,  # type: ignore[arg-type]
        created_at=plausible_start(
            _utc_naive(parse_lean_datetime(payload.get("created_at"))),
            stamp or received,  # type: ignore[arg-type]
        ),
        cells=cells,
        accounts=len(account_ids),
    )


_WORDS: dict[str, tuple[str | None, str]] = {}


def _status_word(value: Any) -> tuple[str | None, str] | None:
    """(normalised, as sent) for a data-type status; Lean uses a handful of words, so each is
    normalised once per process."""
    if type(value) is str and value in _WORDS:
        return _WORDS[value]
    raw = _word(value)
    if raw is None:
        return None
    word = (fit(normalize_data_status(raw), 64), fit(raw, 64) or raw[:64])
    if type(value) is str and len(_WORDS) < 1000:
        _WORDS[value] = word
    return word


def _word(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list | bool):
        return None
    text = str(value).strip()
    return text or None


# ---------------------------------------------------------------------------------------------
# Applying states
# ---------------------------------------------------------------------------------------------


@dataclass
class _Rollup:
    """Changes to the daily rollup, summed before they are written."""

    deltas: dict[tuple[date, str, str], Counter[str]] = field(default_factory=dict)

    def add(
        self,
        day: date | None,
        bank: str | None,
        type_outcomes: dict[str, str],
        outcome: str,
        sign: int,
    ) -> None:
        if day is None:
            return  # only finished refreshes are counted
        for data_type, word in [*type_outcomes.items(), (ALL_DATA_TYPES, outcome)]:
            counter = self.deltas.setdefault((day, bank or NO_BANK, data_type), Counter())
            counter["refreshes"] += sign
            counter[word if word in CELL_OUTCOMES else "unknown"] += sign

    def write(self, conn: Connection) -> None:
        rows = []
        for (day, bank, data_type), counter in self.deltas.items():
            if not any(counter.values()):
                continue
            rows.append(
                {
                    "day": day,
                    "bank_identifier": bank,
                    "data_type": data_type,
                    "refreshes": counter["refreshes"],
                    **{word: counter[word] for word in CELL_OUTCOMES},
                }
            )
        if not rows:
            return
        insert = _insert(conn)(DAILY)
        counted = ("refreshes", *CELL_OUTCOMES)
        statement = insert.on_conflict_do_update(
            index_elements=[DAILY.c.day, DAILY.c.bank_identifier, DAILY.c.data_type],
            set_={name: DAILY.c[name] + insert.excluded[name] for name in counted},
        )
        conn.execute(statement, rows)


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _as_date(value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])


def apply_refresh_states(conn: Connection, states: Sequence[RefreshState]) -> int:
    """Apply refresh states (any order, repeats allowed) inside the caller's transaction.

    Returns how many refreshes took a newer state. Only the latest state of each refresh is
    written; an older one only moves its start earlier.
    """
    latest: dict[str, RefreshState] = {}
    started: dict[str, datetime] = {}
    for state in states:
        current = latest.get(state.refresh_id)
        if current is None or state.order_key >= current.order_key:
            latest[state.refresh_id] = state
        for moment in (state.created_at, state.stamp):
            if (
                moment is not None
                and moment >= EARLIEST_PLAUSIBLE
                and (state.refresh_id not in started or moment < started[state.refresh_id])
            ):
                started[state.refresh_id] = moment
    if not latest:
        return 0
    ids = list(latest)
    existing: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(select(R).where(R.c.refresh_id.in_(chunk))).mappings():
            existing[row["refresh_id"]] = dict(row)
    entity_ids = sorted({s.entity_id for s in latest.values() if s.entity_id})
    banks: dict[str, str] = {}
    for chunk in _chunks(entity_ids):
        banks.update(
            conn.execute(
                select(index_entities.c.entity_id, index_entities.c.bank_identifier).where(
                    index_entities.c.entity_id.in_(chunk),
                    index_entities.c.bank_identifier.is_not(None),
                )
            ).all()
        )
    now = _utc_naive(datetime.now(UTC))
    rollup = _Rollup()
    new_rows: list[dict[str, Any]] = []
    new_cells: list[dict[str, Any]] = []
    earlier_starts: list[dict[str, Any]] = []
    for refresh_id, state in latest.items():
        old = existing.get(refresh_id)
        old_start = _utc_naive(_aware(old["started_at"])) if old else None
        start = min(
            (m for m in (old_start, started.get(refresh_id)) if m is not None), default=None
        )
        if old is not None:
            old_key = _order_key(
                _utc_naive(_aware(old["last_timestamp"])),
                old["last_timestamp_ns"],
                old["last_event_id"],
                normalize_refresh_status(old["status"]) == "FINISHED",
            )
            if state.order_key < old_key:
                if start is not None and start != old_start:
                    finished = _utc_naive(_aware(old["finished_at"]))
                    earlier_starts.append(
                        {
                            "key": refresh_id,
                            "started_at": start,
                            "duration_seconds": _seconds(start, finished),
                        }
                    )
                continue
            rollup.add(
                _as_date(old["finished_day"]),
                old["bank_identifier"],
                json.loads(old["type_outcomes"] or "{}"),
                old["outcome"],
                -1,
            )
        bank = banks.get(state.entity_id or "") or (old["bank_identifier"] if old else None)
        finished_at = state.occurred_at if state.finished else None
        finished_day = finished_at.date() if finished_at else None
        type_outcomes = state.type_outcomes()
        outcome = state.outcome(type_outcomes)
        rollup.add(finished_day, bank, type_outcomes, outcome, +1)
        statuses = [status for status, _raw in state.cells.values()]
        new_rows.append(
            {
                "refresh_id": refresh_id,
                "entity_id": state.entity_id or (old["entity_id"] if old else None),
                "customer_id": state.customer_id or (old["customer_id"] if old else None),
                "bank_identifier": bank,
                "status": state.status,
                "outcome": outcome,
                "started_at": start,
                "finished_at": finished_at,
                "finished_day": finished_day,
                "duration_seconds": _seconds(start, finished_at),
                "accounts": state.accounts,
                "failed_cells": statuses.count("FAILED"),
                "partial_cells": statuses.count("PARTIAL"),
                "type_outcomes": json.dumps(type_outcomes),
                "last_event_id": state.event_id,
                "last_timestamp": state.stamp,
                "last_timestamp_ns": state.stamp_ns,
                "indexed_at": now,
            }
        )
        new_cells.extend(
            {
                "refresh_id": refresh_id,
                "account_id": account_id,
                "data_type": data_type,
                "status": status,
                "raw_status": raw,
                "finished_at": finished_at,
                "finished_day": finished_day,
            }
            for (account_id, data_type), (status, raw) in state.cells.items()
        )
    replaced = [row["refresh_id"] for row in new_rows]
    for chunk in _chunks(replaced):
        conn.execute(delete(CELLS).where(CELLS.c.refresh_id.in_(chunk)))
        conn.execute(delete(R).where(R.c.refresh_id.in_(chunk)))
    _bulk_insert(conn, R, new_rows)
    _bulk_insert(conn, CELLS, new_cells)
    if earlier_starts:
        conn.execute(
            R.update()
            .where(R.c.refresh_id == bindparam("key"))
            .values(
                started_at=bindparam("started_at"),
                duration_seconds=bindparam("duration_seconds"),
            ),
            earlier_starts,
        )
    rollup.write(conn)
    return len(new_rows)


def _bulk_insert(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows through the driver's executemany, values converted by the columns' own
    types once: SQLAlchemy's per-row statement handling costs more than the database's work."""
    if not rows:
        return
    names = list(rows[0])
    dialect = conn.dialect
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join([marker] * len(names))})"
    )
    conn.exec_driver_sql(
        sql,
        [
            tuple(
                process(row[name]) if process else row[name]
                for name, process in zip(names, processors, strict=True)
            )
            for row in rows
        ],
    )


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def backfill_bank(conn: Connection, entity_id: str, bank_identifier: str) -> int:
    """Give an entity's refreshes indexed without a bank the bank the index now knows.

    Their rollup counts move from the unknown bank to this one. Returns how many moved.
    """
    waiting = (
        conn.execute(
            select(R.c.refresh_id, R.c.finished_day, R.c.type_outcomes, R.c.outcome).where(
                R.c.entity_id == entity_id, R.c.bank_identifier.is_(None)
            )
        )
        .mappings()
        .all()
    )
    if not waiting:
        return 0
    rollup = _Rollup()
    for row in waiting:
        day = _as_date(row["finished_day"])
        type_outcomes = json.loads(row["type_outcomes"] or "{}")
        rollup.add(day, NO_BANK, type_outcomes, row["outcome"], -1)
        rollup.add(day, bank_identifier, type_outcomes, row["outcome"], +1)
    conn.execute(
        R.update()
        .where(R.c.entity_id == entity_id, R.c.bank_identifier.is_(None))
        .values(bank_identifier=bank_identifier)
    )
    rollup.write(conn)
    return len(waiting)
