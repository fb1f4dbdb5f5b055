"""The audit screen's Subject search over a million lines, against the naive scan.

    make bench        # or: python -m tests.bench.audit_million [--database-url postgresql+psycopg://…]

Fills the audit log with `--lines` lookups (fifty operators, random customer and entity ids,
over six days), a book index of customers and their bank connections, then times, side by side
in one run, the screen's own query (`console.audit.audit_page`: the first page and its exact
count) for:

- an id's first 8 characters, as the tables show them (upper case, as pasted from a ticket);
- a whole id;
- an app_user_id the book index knows (the customer's lines and its bank connections');

against the naive way, `substr(subject, 1, n) = text` for the same page and count: every line
of the period read. Prints a table and writes `bench/audit.json`. The machine is shared: figures
move.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, insert, select

from console import audit
from console.store import EventStore, audit_log, index_customers, index_entities

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "audit.json"
TARGET_SECONDS = 0.3  # the inbox's target for a filter (§4), held to here too
CHUNK = 20_000


def fill(store: EventStore, lines: int, customers: int, rng: random.Random) -> list[str]:
    """`lines` audit lines about `customers` customers (three bank connections each); returns
    the customers' ids."""
    now = datetime.now(UTC)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(customers)]
    entities = {c: [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(3)]
                for c in ids}  # fmt: skip
    with store.connect(write=True) as conn:
        conn.execute(insert(index_customers), [
            {"customer_id": c, "app_user_id": f"app-user-{n}", "first_seen_at": now,
             "last_seen_at": now} for n, c in enumerate(ids)
        ])  # fmt: skip
        conn.execute(insert(index_entities), [
            {"entity_id": e, "customer_id": c, "last_seen_at": now}
            for c, es in entities.items() for e in es
        ])  # fmt: skip
    written = 0
    while written < lines:
        rows = []
        for _ in range(min(CHUNK, lines - written)):
            customer = rng.choice(ids)
            entity = rng.random() < 0.5
            rows.append({
                "at": now - timedelta(seconds=rng.random() * 6 * 86400),
                "actor": f"op{rng.randrange(50)}@example.com", "role": "support", "how": "oidc",
                "action": "view_entity" if entity else "view_customer",
                "subject_kind": "entity" if entity else "customer",
                "subject": rng.choice(entities[customer]) if entity else customer,
                "outcome": "ok",
            })  # fmt: skip
        with store.connect(write=True) as conn:
            conn.execute(insert(audit_log), rows)
        written += len(rows)
    return ids


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """(cold, warm median) seconds of `fn`, and its last result."""
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return samples[0], statistics.median(samples[1:] or samples), result


def naive(store: EventStore, text: str, since: datetime) -> int:
    """The page and its count with `substr(subject, 1, n) = text`: every line of the period."""
    condition = and_(
        func.substr(audit_log.c.subject, 1, len(text)) == text, audit_log.c.at >= since
    )
    order = (audit_log.c.at.desc(), audit_log.c.id.desc())
    with store.connect() as conn:
        conn.execute(select(audit_log).where(condition).order_by(*order).limit(51)).all()
        return int(
            conn.execute(select(func.count()).select_from(audit_log).where(condition)).scalar()
        )


def main(argv: list[str] | None = None) -> int:
    """Fill, time, print a table and write bench/audit.json."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.audit_million")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    rng = random.Random(20261130)
    workdir = tempfile.TemporaryDirectory(prefix="audit-bench-")
    store = EventStore(args.database_url or f"sqlite:///{Path(workdir.name) / 'audit.db'}")
    store.migrate()
    print(f"Filling {store!r} with {args.lines:,} audit lines…", flush=True)
    started = time.perf_counter()
    ids = fill(store, args.lines, args.customers, rng)
    print(f"  in {time.perf_counter() - started:.0f} s", flush=True)

    since = datetime.now(UTC) - timedelta(days=7)
    customer = ids[len(ids) // 2]
    app_user_id = f"app-user-{len(ids) // 2}"
    cases = {
        "an id's first 8 characters (upper case)": customer[:8].upper(),
        "a whole id": customer,
        "an app_user_id (customer and its connections)": app_user_id,
    }
    results: dict[str, dict[str, Any]] = {}
    for name, text in cases.items():
        query = audit.subject_query(store, text)
        cold, warm, page = timed(
            lambda q=query: audit.audit_page(store, subject=q, since=since), args.runs
        )
        results[name] = {"cold_s": cold, "warm_s": warm, "lines": page.total}
    cold, warm, count = timed(lambda: naive(store, customer[:8], since), max(2, args.runs // 2))
    results["naive: substr over the period (first 8 characters)"] = {
        "cold_s": cold, "warm_s": warm, "lines": count,
    }  # fmt: skip

    print(f"\n{'Subject search, page + exact count':<54} {'cold s':>8} {'warm s':>8} {'lines':>7}")
    for name, result in results.items():
        print(f"{name:<54} {result['cold_s']:>8.4f} {result['warm_s']:>8.4f} {result['lines']:>7}")
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "ran_at": datetime.now(UTC).isoformat(),
                "machine": {
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine(),
                },
                "database": store.dialect,
                "lines": args.lines,
                "target_s": TARGET_SECONDS,
                "queries": results,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {args.output}")
    store.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
