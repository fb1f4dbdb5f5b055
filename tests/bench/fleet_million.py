"""The fleet view at a million stored refresh events: indexer throughput and query times.

    make bench        # or: python -m tests.bench.fleet_million --events 1000000

Fills a fresh SQLite store (or `--database-url`) with realistic `entity.data.refresh.updated`
events (PENDING then FINISHED per refresh, ~40 banks, ~20k entities, 30 days, a few percent
arriving out of order and a few entities the book index never hears of), written straight into
`webhook_events` in bulk (the receiver's throughput is `ingest_wrk`'s business). Then the book
indexer applies them (events/s), and each fleet query is timed, side by side with the naive way
(the same rates aggregated from the per-account cells instead of the daily rollup). Results are
printed and written to `bench/fleet.json`, with the process's peak RSS.
"""

from __future__ import annotations

import argparse
import heapq
import json
import platform
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from console import fleet
from console.book import BookIndexer
from console.charts import fleet_heatmap, fleet_type_heatmap
from console.refresh_index import _bulk_insert
from console.store import (
    ALL_DATA_TYPES,
    EventStore,
    events,
    index_refresh_cells,
    index_refreshes,
)
from lean_api.models import ACCOUNT_DATA_TYPES

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "fleet.json"
REFRESH = "entity.data.refresh.updated"
MESSAGE = "An entity data refresh state has been updated."
TARGET_SECONDS = 1.0


def _id(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _iso(at: datetime, ns: int) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{ns:03d}Z"


class Book:
    """Banks with their own health, entities with accounts, some accounts flaky."""

    def __init__(self, rng: random.Random, banks: int, entities: int) -> None:
        self.rng = rng
        self.banks = []
        for n in range(banks):
            self.banks.append(
                {
                    "identifier": f"BANK{n:02d}_SAMAOB_SAU",
                    "failed": rng.choice([0.005, 0.01, 0.02, 0.05, 0.15]),
                    "partial": rng.choice([0.01, 0.03, 0.08]),
                    "unsupported": set(
                        rng.sample(ACCOUNT_DATA_TYPES[3:], rng.choice([0, 0, 1, 2]))
                    ),
                }
            )
        self.entities = []
        for _ in range(entities):
            accounts = [_id(rng) for _ in range(rng.choice([1, 1, 1, 2, 2, 3]))]
            self.entities.append(
                {
                    "entity_id": _id(rng),
                    "customer_id": _id(rng),
                    "app_user_id": f"usr_{rng.getrandbits(32):08x}",
                    "bank": rng.choice(self.banks),
                    "accounts": accounts,
                    "flaky": {a for a in accounts if rng.random() < 0.03},
                    # The book index never hears of a few entities: their refreshes have no bank.
                    "known": rng.random() > 0.03,
                }
            )


def account_statuses(
    rng: random.Random, bank: dict[str, Any], account: str, flaky: bool, final: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {"account_id": account}
    for data_type in ACCOUNT_DATA_TYPES:
        if not final:
            out[data_type] = "PENDING"
        elif data_type in bank["unsupported"]:
            out[data_type] = "UNSUPPORTED"
        elif data_type == "transactions" and flaky and rng.random() < 0.7:
            out[data_type] = "PARTIAL"
        else:
            roll = rng.random()
            if roll < bank["failed"]:
                out[data_type] = "FAILED"
            elif roll < bank["failed"] + bank["partial"]:
                out[data_type] = "PARTIAL"
            else:
                out[data_type] = "OK" if roll > 0.7 else "SUCCESS"
    if final:
        out["transaction_availability"] = {
            "start": "2025-11-01",
            "end": "2026-11-27",
            "complete_months": 12,
        }
    return out


def generate(
    book: Book, total_events: int, days: int, now: datetime, rng: random.Random
) -> Iterator[dict[str, Any]]:
    """Rows for `webhook_events`, in arrival order: each refresh's PENDING then FINISHED (2% of
    them the other way round), spread over `days` up to `now`."""
    refreshes = total_events // 2
    start = now - timedelta(days=days)
    step = (days * 86400) / refreshes
    due: list[tuple[datetime, int, dict[str, Any]]] = []
    for seq, n in enumerate(range(refreshes)):
        at = start + timedelta(seconds=n * step + rng.random() * step)
        while due and due[0][0] <= at:
            yield heapq.heappop(due)[2]
        entity = rng.choice(book.entities)
        refresh_id = _id(rng)
        took = timedelta(seconds=min(rng.lognormvariate(4.0, 1.0), 3600))
        pending = _row(book, entity, refresh_id, at, "PENDING", rng)
        finished = _row(book, entity, refresh_id, at + took, "FINISHED", rng)
        if rng.random() < 0.02:
            yield finished  # Lean's retries deliver out of order
            heapq.heappush(due, (at + took, seq, pending))
        else:
            yield pending
            heapq.heappush(due, (at + took, seq, finished))
    while due:
        yield heapq.heappop(due)[2]


def _row(
    book: Book,
    entity: dict[str, Any],
    refresh_id: str,
    at: datetime,
    status: str,
    rng: random.Random,
) -> dict[str, Any]:
    final = status == "FINISHED"
    ns = rng.randrange(1000)
    event_id = _id(rng)
    payload = {
        "refresh_id": refresh_id,
        "entity_id": entity["entity_id"],
        "app_user_id": entity["app_user_id"],
        "customer_id": entity["customer_id"],
        "status": status,
        "data_status": {
            "accounts": "SUCCESS" if final else "PENDING",
            "identity": "SUCCESS" if final else "PENDING",
            "account_data": [
                account_statuses(rng, entity["bank"], a, a in entity["flaky"], final)
                for a in entity["accounts"]
            ],
        },
    }
    body = json.dumps(
        {
            "type": REFRESH,
            "message": MESSAGE,
            "payload": payload,
            "event_id": event_id,
            "timestamp": _iso(at, ns),
        }
    )
    received = at + timedelta(seconds=1)
    return {
        "event_id": event_id,
        "type": REFRESH,
        "message": MESSAGE,
        "lean_timestamp": at,
        "lean_timestamp_ns": ns,
        "received_at": received,
        "last_received_at": received,
        "delivery_count": 1,
        "verified": True,
        "source_ip": "127.0.0.1",
        "customer_id": entity["customer_id"],
        "entity_id": entity["entity_id"],
        "app_user_id": entity["app_user_id"],
        "bank_identifier": None,
        "refresh_id": refresh_id,
        "status": status,
        "size": len(body),
        "payload": body,
    }


def entity_rows(book: Book, at: datetime) -> list[dict[str, Any]]:
    """`entity.created` for every entity the book index should know."""
    rows = []
    for entity in book.entities:
        if not entity["known"]:
            continue
        bank = entity["bank"]["identifier"]
        body = json.dumps(
            {
                "type": "entity.created",
                "message": "An entity object has been created.",
                "event_id": f"created-{entity['entity_id']}",
                "timestamp": _iso(at, 0),
                "payload": {
                    "id": entity["entity_id"],
                    "customer_id": entity["customer_id"],
                    "app_user_id": entity["app_user_id"],
                    "permissions": ["accounts", "balance", "transactions", "identity"],
                    "bank_details": {"identifier": bank, "name": bank.title()},
                },
            }
        )
        rows.append(
            {
                "event_id": f"created-{entity['entity_id']}",
                "type": "entity.created",
                "message": None,
                "lean_timestamp": at,
                "lean_timestamp_ns": 0,
                "received_at": at,
                "last_received_at": at,
                "delivery_count": 1,
                "verified": True,
                "source_ip": "127.0.0.1",
                "customer_id": entity["customer_id"],
                "entity_id": entity["entity_id"],
                "app_user_id": entity["app_user_id"],
                "bank_identifier": bank,
                "refresh_id": None,
                "status": None,
                "size": len(body),
                "payload": body,
            }
        )
    return rows


def fill(store: EventStore, rows: Iterator[dict[str, Any]], chunk: int = 20_000) -> int:
    """Bulk-insert rows into `webhook_events` through the driver's executemany."""
    written = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            with store.connect(write=True) as conn:
                _bulk_insert(conn, events, batch)
            written += len(batch)
            batch = []
    if batch:
        with store.connect(write=True) as conn:
            _bulk_insert(conn, events, batch)
        written += len(batch)
    return written


def timed(call: Callable[[], Any], repeat: int = 3) -> dict[str, Any]:
    """Cold (first) and warm (median of the rest) seconds, and the size of the answer."""
    times = []
    answer: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - started)
    size = len(answer) if hasattr(answer, "__len__") else answer
    return {
        "cold_s": round(times[0], 4),
        "warm_s": round(statistics.median(times[1:] or times), 4),
        "rows": size if isinstance(size, int) else str(size),
    }


def cells_labelled(figure: Any) -> int:
    """A heat map's size: how many cells carry their words."""
    return sum(len(trace.text) for trace in figure.data if trace.name == "cell words")


def naive_rates(store: EventStore, since: datetime) -> int:
    """The reference: bank × data type × day counted from the cells, with no rollup."""
    cells, refreshes = index_refresh_cells, index_refreshes
    statement = (
        select(
            refreshes.c.bank_identifier,
            cells.c.data_type,
            cells.c.finished_day,
            func.count(),
            func.count().filter(cells.c.status == "FAILED"),
            func.count().filter(cells.c.status == "PARTIAL"),
        )
        .join_from(cells, refreshes, cells.c.refresh_id == refreshes.c.refresh_id)
        .where(cells.c.finished_at >= since)
        .group_by(refreshes.c.bank_identifier, cells.c.data_type, cells.c.finished_day)
    )
    with store.connect() as conn:
        return len(conn.execute(statement).all())


def main(argv: list[str] | None = None) -> int:
    """Fill, index, time; print a table and write bench/fleet.json."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.fleet_million")
    parser.add_argument("--events", type=int, default=1_000_000, help="refresh events to store")
    parser.add_argument("--banks", type=int, default=40)
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    rng = random.Random(20261128)
    now = datetime.now(UTC).replace(microsecond=0)
    workdir = tempfile.TemporaryDirectory(prefix="fleet-bench-")
    url = args.database_url or f"sqlite:///{Path(workdir.name) / 'fleet.db'}"
    store = EventStore(url)
    store.migrate()
    book = Book(rng, args.banks, args.entities)

    print(f"Filling {store!r} with {args.events:,} refresh events…", flush=True)
    started = time.perf_counter()
    fill(store, iter(entity_rows(book, now - timedelta(days=args.days + 5))))
    written = fill(store, generate(book, args.events, args.days, now, rng))
    fill_seconds = time.perf_counter() - started
    print(f"  stored {written:,} in {fill_seconds:.0f} s ({written / fill_seconds:,.0f}/s)")

    print("Indexing…", flush=True)
    indexer = BookIndexer(store, batch=5000, settle_seconds=0)
    started = time.perf_counter()
    counts = indexer.apply_pending()
    index_seconds = time.perf_counter() - started
    applied = counts.applied + counts.skipped
    print(
        f"  applied {counts.applied:,} (skipped {counts.skipped:,}) in {index_seconds:.0f} s "
        f"({applied / index_seconds:,.0f} events/s)"
    )
    with store.connect() as conn:
        refreshes = conn.execute(select(func.count()).select_from(index_refreshes)).scalar_one()
        cells = conn.execute(select(func.count()).select_from(index_refresh_cells)).scalar_one()

    queries: dict[str, dict[str, Any]] = {}
    for days in (7, 30):
        since = fleet.window_start(days, now)
        since_dt = datetime.combine(since, datetime.min.time())
        queries[f"rates {days}d, all data types"] = timed(
            lambda since=since: fleet.daily_rates(store, since, data_type=ALL_DATA_TYPES)
        )
        queries[f"rates {days}d, transactions"] = timed(
            lambda since=since: fleet.daily_rates(store, since, data_type="transactions")
        )
        queries[f"counts {days}d (finished, without bank)"] = timed(
            lambda since=since: fleet.fleet_counts(store, since).finished
        )
        queries[f"slowest 20, {days}d"] = timed(
            lambda since=since: fleet.slowest_refreshes(store, since, limit=20)
        )
        queries[f"repeatedly partial 3 of 5, {days}d"] = timed(
            lambda since=since: fleet.repeatedly_partial(store, since, at_least=3, of_last=5)
        )
        # The screen's two heat maps, its queries and figures together (the page's time).
        queries[f"screen: bank × data type heat map, {days}d"] = timed(
            lambda since=since, days=days: cells_labelled(
                fleet_type_heatmap(
                    fleet.bank_type_rates(store, since), window_words=f"last {days} days"
                )
            )
        )
        queries[f"screen: bank × day heat map, {days}d, transactions"] = timed(
            lambda since=since, days=days: cells_labelled(
                fleet_heatmap(
                    fleet.daily_rates(store, since, data_type="transactions"),
                    [since + timedelta(days=n) for n in range(days)],
                    data_type_label="transactions",
                )
            )
        )
        if days == 7:  # the 30-day reference takes minutes at a million events
            queries[f"naive: rates {days}d from the cells (reference)"] = timed(
                lambda since_dt=since_dt: naive_rates(store, since_dt), repeat=1
            )
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"\n{'query':<48} {'cold s':>8} {'warm s':>8} {'rows':>8}  < {TARGET_SECONDS:g} s")
    for name, result in queries.items():
        ok = "" if name.startswith("naive") else ("yes" if result["cold_s"] < 1 else "NO")
        print(
            f"{name:<48} {result['cold_s']:>8.3f} {result['warm_s']:>8.3f} {result['rows']!s:>8}  {ok}"
        )
    print(f"\nindex: {refreshes:,} refreshes, {cells:,} cells; peak RSS {peak_rss_mb:,.0f} MB")
    database_size = None
    if store.dialect == "sqlite" and store.engine.url.database:
        database_size = sum(
            p.stat().st_size for p in Path(store.engine.url.database).parent.glob("fleet.db*")
        )
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "ran_at": now.isoformat(),
                "machine": {
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine(),
                },
                "database": store.dialect,
                "events": written,
                "banks": args.banks,
                "entities": args.entities,
                "days": args.days,
                "fill_seconds": round(fill_seconds, 1),
                "index_seconds": round(index_seconds, 1),
                "index_events_per_second": round(applied / index_seconds),
                "indexed_refreshes": refreshes,
                "indexed_cells": cells,
                "database_bytes": database_size,
                "queries": queries,
                "target_seconds": TARGET_SECONDS,
                "peak_rss_mb": round(peak_rss_mb),
            },
            indent=2,
        )
    )
    print(f"written to {args.output}")
    store.dispose()
    workdir.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
