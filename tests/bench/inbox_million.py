"""The webhook inbox at a million stored events: first page, filters, later pages, search.

    make bench        # or: python -m tests.bench.inbox_million --events 1000000 [--database-url …]

Fills a fresh store per backend (`--backends sqlite,postgresql`), or uses each `--database-url`
given, filling it only when empty: a kept SQLite file or a running PostgreSQL is reused between
runs (`--database-url sqlite:////tmp/inbox.db --database-url postgresql+psycopg://…`). Events:
the fleet bench's refresh events (PENDING then FINISHED, ~40 banks, ~20k entities, 30 days), plus
each entity's `entity.created` (bank names in English and Arabic, account holders, IBANs), some
`entity.updated`, `bank.availability.updated` every few minutes, and ~1% unverified deliveries.
Rows go in bulk straight into `webhook_events` through the schema's own indexes and triggers.

Then each inbox question is timed through `console.events.inbox_page` (what the screen calls),
side by side with the naive way in the same run: OFFSET paging, exact count(*), a substring scan
without the text index, and loading the list into pandas to filter and sort there. Results are
printed and written to `bench/inbox.json`. Target: every inbox answer under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from console.events import InboxView, inbox_page, stored_events
from console.refresh_index import _bulk_insert
from console.serving import freeze_start_up_heap
from console.store import OCCURRED, EventFilter, EventStore, events, index_entities
from tests.bench.fleet_million import Book, _id, _iso, fill, generate
from tests.pgcluster import postgres_cluster

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "inbox.json"
TARGET_SECONDS = 0.3
ARABIC_BANKS = ["مصرف الراجحي", "البنك الأهلي السعودي", "بنك الرياض", "البنك السعودي الفرنسي"]
HOLDERS = ["عبدالله بن محمد", "نورة العتيبي", "Fatimah Al-Qahtani", "Omar Haddad", "سارة الشهري"]


def _iban(rng: random.Random) -> str:
    return "SA" + "".join(rng.choice("0123456789") for _ in range(22))


def _event_row(**values: Any) -> dict[str, Any]:
    body = json.dumps(values.pop("body"), ensure_ascii=False)
    return {
        "message": None,
        "lean_timestamp_ns": 0,
        "delivery_count": 1,
        "verified": True,
        "source_ip": "127.0.0.1",
        "customer_id": None,
        "entity_id": None,
        "app_user_id": None,
        "bank_identifier": None,
        "refresh_id": None,
        "status": None,
        **values,
        "last_received_at": values["received_at"],
        "size": len(body.encode()),
        "payload": body,
    }


def entity_events(book: Book, rng: random.Random, now: datetime, days: int) -> list[dict[str, Any]]:
    """Each known entity's `entity.created`, a fifth of them an `entity.updated` later."""
    rows = []
    start = now - timedelta(days=days + 5)
    for entity in book.entities:
        if not entity["known"]:
            continue
        bank = entity["bank"]["identifier"]
        number = int(bank[4:6])
        for kind, at in (("entity.created", start), ("entity.updated", None)):
            if kind == "entity.updated":
                if rng.random() > 0.2:
                    continue
                at = now - timedelta(seconds=rng.random() * days * 86400)
            event_id = f"{kind.split('.')[1]}-{entity['entity_id']}"
            payload = {
                "id": entity["entity_id"],
                "customer_id": entity["customer_id"],
                "app_user_id": entity["app_user_id"],
                "permissions": ["accounts", "balance", "transactions", "identity"],
                "bank_details": {
                    "identifier": bank,
                    "name": f"Bank {number:02d}",
                    "arabic_name": ARABIC_BANKS[number % len(ARABIC_BANKS)],
                },
                "accounts": [
                    {"account_id": a, "iban": _iban(rng), "holder": rng.choice(HOLDERS)}
                    for a in entity["accounts"]
                ],
            }
            rows.append(
                _event_row(
                    event_id=event_id,
                    type=kind,
                    lean_timestamp=at,
                    received_at=at + timedelta(seconds=1),
                    customer_id=entity["customer_id"],
                    entity_id=entity["entity_id"],
                    app_user_id=entity["app_user_id"],
                    bank_identifier=bank,
                    status="ACTIVE",
                    body={
                        "type": kind,
                        "event_id": event_id,
                        "timestamp": _iso(at, 0),
                        "payload": payload,
                    },
                )
            )
    return rows


def availability_events(book: Book, rng: random.Random, now: datetime, days: int) -> list[dict]:
    """`bank.availability.updated` from a random bank every few minutes."""
    rows = []
    at = now - timedelta(days=days)
    while at < now:
        bank = rng.choice(book.banks)["identifier"]
        state = rng.choice(["AVAILABLE", "AVAILABLE", "AVAILABLE", "UNAVAILABLE"])
        event_id = _id(rng)
        rows.append(
            _event_row(
                event_id=event_id,
                type="bank.availability.updated",
                lean_timestamp=at,
                received_at=at + timedelta(seconds=1),
                bank_identifier=bank,
                body={
                    "type": "bank.availability.updated",
                    "event_id": event_id,
                    "timestamp": _iso(at, 0),
                    "payload": {
                        "identifier": bank,
                        "availability": {
                            "data": {"state": state},
                            "payments": {"state": "AVAILABLE"},
                        },
                    },
                },
            )
        )
        at += timedelta(seconds=rng.randrange(60, 600))
    return rows


def index_rows(book: Book, now: datetime) -> list[dict[str, Any]]:
    """`index_entities` rows for the entities the book index knows."""
    return [
        {
            "entity_id": e["entity_id"],
            "customer_id": e["customer_id"],
            "bank_identifier": e["bank"]["identifier"],
            "bank_name": f"Bank {int(e['bank']['identifier'][4:6]):02d}",
            "status": "ACTIVE",
            "last_seen_at": now,
        }
        for e in book.entities
        if e["known"]
    ]


def refresh_events(
    book: Book, total: int, days: int, now: datetime, rng: random.Random
) -> Iterator:
    """The fleet bench's refresh events, ~1% of them unverified deliveries."""
    for row in generate(book, total, days, now, rng):
        if rng.random() < 0.01:
            row["verified"] = False
        yield row


def timed(call: Callable[[], Any], repeat: int = 3) -> dict[str, Any]:
    """Cold (first) and warm (median of the rest) seconds, and what came back."""
    times, answer = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - started)
    if hasattr(answer, "items") and hasattr(answer, "position_words"):
        shown = f"{len(answer.items)} rows · {answer.position_words}"
    elif isinstance(answer, list | tuple):
        shown = f"{len(answer)} rows"
    else:
        shown = str(answer)
    return {
        "cold_s": round(times[0], 4),
        "warm_s": round(statistics.median(times[1:] or times), 4),
        "answer": shown,
    }


def page_at(store: EventStore, view: InboxView, pages: int) -> Callable[[], Any]:
    """Follow the Older cursor `pages` times, then time reading that page."""
    page = inbox_page(store, view)
    for _ in range(pages - 2):
        if page.older is None:
            break
        page = inbox_page(store, replace(view, asof=page.asof, before=page.older))
    target = replace(view, asof=page.asof, before=page.older) if page.older else view
    return lambda: inbox_page(store, target)


def random_views(book: Book, rng: random.Random, count: int) -> Iterator[InboxView]:
    """`count` views combining two or more of the inbox's filters at random (types, status,
    verified, one connection's bank, customer and connection, a search), each over a random
    time range: combinations no fixed question names, where a planner's guess shows."""
    refresh, availability = "entity.data.refresh.updated", "bank.availability.updated"
    types = [
        (refresh,),
        (availability,),
        ("entity.created",),
        ("entity.updated",),
        ("entity.created", "entity.updated"),
        (availability, "entity.created"),
    ]
    made = 0
    while made < count:
        entity = rng.choice(book.entities)
        words = ["الراجحي", "FINISHED", entity["entity_id"][:13], "SA03", "Omar"]
        makers: dict[str, Callable[[], Any]] = {
            "types": lambda: rng.choice(types),
            "status": lambda: rng.choice(["PENDING", "FINISHED", "ACTIVE"]),
            "verified": lambda: rng.random() < 0.5,
            "bank": lambda entity=entity: entity["bank"]["identifier"],
            "customer_id": lambda entity=entity: entity["customer_id"],
            "entity_id": lambda entity=entity: entity["entity_id"],
            "text": lambda words=words: rng.choice(words),
        }
        chosen = {name: make() for name, make in makers.items() if rng.random() < 0.4}
        if len(chosen) >= 2:
            made += 1
            yield InboxView(range=rng.choice(["all", "7d", "24h"]), **chosen)


def random_combinations(store: EventStore, book: Book, count: int) -> dict[str, Any]:
    """Each random view's first page and the next, warm (the second reading of each): how many
    answered over the target, the slowest, and the 95th percentile."""
    pages: list[tuple[float, str]] = []
    for view in random_views(book, random.Random(20261130), count):
        first = inbox_page(store, view)
        later = [replace(view, asof=first.asof, before=first.older)] if first.older else []
        for target in [replace(view, asof=first.asof), *later]:
            inbox_page(store, target)
            started = time.perf_counter()
            page = inbox_page(store, target)
            label = f"{target.to_query()} → {page.position_words if page.items else 'none'}"
            pages.append((time.perf_counter() - started, label))
    pages.sort()
    return {
        "views": count,
        "pages": len(pages),
        "over_target": sum(1 for seconds, _ in pages if seconds >= TARGET_SECONDS),
        "p95_s": round(pages[int(0.95 * (len(pages) - 1))][0], 4),
        "max_s": round(pages[-1][0], 4),
        "slowest": pages[-1][1],
    }


def naive_offset(store: EventStore, flt: EventFilter, offset: int) -> Callable[[], Any]:
    return lambda: store.query_events(flt, limit=50, offset=offset)


def naive_count(store: EventStore, flt: EventFilter) -> Callable[[], Any]:
    return lambda: store.count_events(flt)


def naive_scan_search(store: EventStore, needle: str) -> Callable[[], Any]:
    """The substring scan without the text index (the schema-7 way), first page."""

    def run() -> int:
        condition = store.event_conditions(EventFilter(text=needle), text_rows=False)
        if store.dialect == "postgresql":
            # PostgreSQL's condition is the indexed expression: scan the columns instead.
            like = f"%{needle}%"
            condition = (
                events.c.payload.ilike(like) | events.c.event_id.ilike(like)
            ) | events.c.type.ilike(like)
        statement = (
            select(events.c.id).where(condition).order_by(OCCURRED.desc(), events.c.id.desc())
        )
        with store.connect() as conn:
            if store.dialect == "postgresql":
                conn.execute(text("SET LOCAL enable_bitmapscan = off"))
            return len(conn.execute(statement.limit(51)).all()) + int(
                conn.execute(select(func.count()).where(condition)).scalar_one()
            )

    return run


def naive_pandas(store: EventStore, column: str, value: str) -> Callable[[], Any]:
    """Load the list (without bodies) into pandas, filter and sort there, take a page."""
    import pandas as pd

    def run() -> int:
        statement = select(events.c.id, events.c.type, events.c[column], OCCURRED.label("occurred"))
        with store.connect() as conn:
            frame = pd.read_sql(statement, conn)
        page = frame[frame[column] == value].sort_values(["occurred", "id"], ascending=False)
        return len(page.head(50))

    return run


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill one store (or reuse it), time every question, print the table; the results."""
    rng = random.Random(20261129)
    now = datetime.now(UTC).replace(microsecond=0)
    store = EventStore(url)
    store.migrate()
    book = Book(rng, args.banks, args.entities)

    with store.connect() as conn:
        written = int(conn.execute(select(func.count()).select_from(events)).scalar_one())
    fill_seconds = index_seconds = 0.0
    if written:
        print(f"Reusing {store!r}: {written:,} events already stored", flush=True)
    else:
        print(f"Filling {store!r} with about {args.events:,} events…", flush=True)
        started = time.perf_counter()
        side = entity_events(book, rng, now, args.days)
        side += availability_events(book, rng, now, args.days)
        written = fill(store, iter(side))
        written += fill(store, refresh_events(book, args.events - written, args.days, now, rng))
        fill_seconds = time.perf_counter() - started
        print(f"  stored {written:,} in {fill_seconds:.0f} s ({written / fill_seconds:,.0f}/s)")
        with store.connect(write=True) as conn:
            # The book index as the indexer leaves it: each entity's bank (and its name).
            _bulk_insert(conn, index_entities, index_rows(book, now))
    # The text index catches up behind the receiver (on a store of an earlier schema, it also
    # fills in what that schema's rows lack: PostgreSQL's times, schema 9).
    print(f"Text index: {store.search_backlog():,} events behind…", flush=True)
    started = time.perf_counter()
    indexed = 0
    while added := store.index_search_text(limit=20_000):
        indexed += added
    index_seconds = time.perf_counter() - started
    print(f"  {indexed:,} rows indexed or filled in in {index_seconds:.0f} s")
    if store.dialect == "postgresql":
        with store.connect(write=True) as conn:
            conn.execute(text("ANALYZE webhook_events"))

    # As the console's server does once started (console/serving.py): its full collections walk
    # only what was allocated since; without it, one took a page of 5,900 candidates to 0.4 s.
    freeze_start_up_heap()
    entity = book.entities[7]
    with store.connect() as conn:
        iban_row = conn.execute(
            select(events.c.payload).where(events.c.type == "entity.created").limit(1)
        ).scalar_one()
        some_event_id = conn.execute(
            select(events.c.event_id).where(events.c.id == written // 3)
        ).scalar_one()
    iban = json.loads(iban_row)["payload"]["accounts"][0]["iban"]
    bank = entity["bank"]["identifier"]
    refresh = "entity.data.refresh.updated"
    views = {
        "first page (default: last 30 days)": InboxView(),
        "first page, all time": InboxView(range="all"),
        "type: data refresh": InboxView(types=(refresh,), range="all"),
        "type: bank availability": InboxView(types=("bank.availability.updated",), range="all"),
        "two types": InboxView(types=("entity.created", "entity.updated"), range="all"),
        "customer": InboxView(customer_id=entity["customer_id"], range="all"),
        "entity": InboxView(entity_id=entity["entity_id"], range="all"),
        "bank (via the book index)": InboxView(bank=bank, range="all"),
        "status FINISHED": InboxView(status="FINISHED", range="all"),
        "unverified only": InboxView(verified=False, range="all"),
        "last 24 hours": InboxView(range="24h"),
        # No bank availability event has a status: SQLite read PENDING's whole index (2.8 s).
        "status + type, no match": InboxView(
            status="PENDING", types=("bank.availability.updated",), range="all"
        ),
        "bank + status PENDING": InboxView(bank=bank, status="PENDING", range="all"),
        "bank + refresh + FINISHED + 7 days": InboxView(
            bank=bank, types=(refresh,), status="FINISHED", range="7d"
        ),
        "search: an IBAN": InboxView(text=iban, range="all"),
        "search: an event_id": InboxView(text=some_event_id, range="all"),
        "search: Arabic bank name": InboxView(text="الراجحي", range="all"),
        "search: Arabic bank name, last 7 days": InboxView(text="الراجحي", range="7d"),
        # The text's matches are entity events; FINISHED is a refresh's word: none match both.
        "search + status, no match": InboxView(text="الراجحي", status="FINISHED", range="all"),
        "search: a common word (FINISHED)": InboxView(text="FINISHED", range="all"),
        # PostgreSQL estimates a long needle's matches at a handful: these read and sorted every
        # event of the other filters, or the whole table, before the walk along their index.
        "common word + status, last 24 hours": InboxView(
            text="FINISHED", status="FINISHED", range="24h"
        ),
        "common word + status + bank": InboxView(
            text="FINISHED", status="FINISHED", bank=bank, range="all"
        ),
        "common word + a status none has": InboxView(text="FINISHED", status="ACTIVE", range="all"),
        # A word of 23,000 entity events with a filter of many times as many, none of them: every
        # PENDING body was read (3 s); now the text index's candidates are tested in one go.
        "entity word + PENDING (none)": InboxView(text="iban", status="PENDING", range="all"),
        "entity word + refresh type (none)": InboxView(
            text="holder", types=(refresh,), range="all"
        ),
        "search: 2 characters": InboxView(text="SA", range="all"),
    }
    queries: dict[str, dict[str, Any]] = {}
    queries["events stored (header count)"] = timed(lambda: stored_events(store).words)
    for name, view in views.items():
        queries[name] = timed(lambda view=view: inbox_page(store, view))
    queries["page 2, all time"] = timed(page_at(store, InboxView(range="all"), 2))
    queries["page 20, all time"] = timed(page_at(store, InboxView(range="all"), 20))
    queries["page 20, bank"] = timed(page_at(store, InboxView(bank=bank, range="all"), 20))
    queries["page 2, status + verified, 7 days"] = timed(
        page_at(store, InboxView(status="FINISHED", verified=True, range="7d"), 2)
    )
    queries["page 20, search: Arabic bank name"] = timed(
        page_at(store, InboxView(text="الراجحي", range="all"), 20)
    )
    queries["app user (store filter)"] = timed(
        lambda: store.query_events(EventFilter(app_user_id=entity["app_user_id"]))
    )
    queries["naive: OFFSET page 20 (offset 950)"] = timed(naive_offset(store, EventFilter(), 950))
    queries["naive: OFFSET page 10,000 (offset 500,000)"] = timed(
        naive_offset(store, EventFilter(), 500_000), repeat=1
    )
    queries["naive: exact count(*), all"] = timed(naive_count(store, EventFilter()))
    queries["naive: exact count(*), bank"] = timed(
        naive_count(store, EventFilter(bank_identifier=bank))
    )
    queries["naive: IBAN by substring scan, no text index"] = timed(
        naive_scan_search(store, iban), repeat=1
    )
    if not args.no_pandas:
        queries["naive: customer through pandas (no bodies)"] = timed(
            naive_pandas(store, "customer_id", entity["customer_id"]), repeat=1
        )
    combinations = random_combinations(store, book, args.random_views)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"\n{'question':<46} {'cold s':>7} {'warm s':>7}  <{TARGET_SECONDS:g}s  answer")
    for name, result in queries.items():
        ok = "" if name.startswith("naive") else ("yes" if result["cold_s"] < 0.3 else "NO")
        print(
            f"{name:<46} {result['cold_s']:>7.3f} {result['warm_s']:>7.3f}  {ok:<5} "
            f"{result['answer'][:60]}"
        )
    print(
        f"\n{combinations['views']} random combinations of filters, {combinations['pages']} "
        f"pages (warm): {combinations['over_target']} over {TARGET_SECONDS:g} s, p95 "
        f"{combinations['p95_s']:.3f} s, slowest {combinations['max_s']:.3f} s "
        f"({combinations['slowest'][:120]})"
    )
    print(f"\n{store.dialect}: {written:,} events; peak RSS {peak_rss_mb:,.0f} MB")
    store.dispose()
    return {
        "ran_at": now.isoformat(),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "note": "2 cores shared with other work while measured",
        },
        "database": store.dialect,
        "events": written,
        "fill_seconds": round(fill_seconds, 1),
        "text_index_seconds": round(index_seconds, 1),
        "queries": queries,
        "random_combinations": combinations,
        "target_seconds": TARGET_SECONDS,
        "peak_rss_mb": round(peak_rss_mb),
    }


def main(argv: list[str] | None = None) -> int:
    """Fill, time, print a table and write bench/inbox.json."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.inbox_million")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to store in all")
    parser.add_argument("--banks", type=int, default=40)
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--database-url",
        action="append",
        help="a store to use, reused when it holds events (repeat for several: iterate on a kept "
        "SQLite file and a running PostgreSQL); default: fresh stores per --backends",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas reference")
    parser.add_argument(
        "--random-views", type=int, default=100, help="random combinations of filters to time"
    )
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="without --database-url: which to run"
    )
    args = parser.parse_args(argv)

    runs = []
    for url in args.database_url or []:
        runs.append(run(url, args))
    for backend in [] if args.database_url else args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="inbox-bench-") as workdir:
                runs.append(run(f"sqlite:///{Path(workdir) / 'inbox.db'}", args))
        else:
            # A cluster of its own (fsync off: the fill is not what is measured).
            with postgres_cluster() as url:
                runs.append(run(url, args))
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(json.dumps({"runs": runs}, indent=2, ensure_ascii=False))
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
