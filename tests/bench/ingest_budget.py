"""What one delivery costs, piece by piece, and the most this machine could answer.

    python -m tests.bench.ingest_budget      # ~1 minute; writes bench/ingest_budget.json

`tests.bench.ingest_wrk` compares the console with a bare endpoint. This splits a delivery's
CPU into the pieces no design of the console can do without, each measured on its own, and adds
them up against the machine's cores:

- **wrk**: the load generator's CPU per request (it shares the machine), against the bare
  endpoint;
- **receive**: the receiver alone with its store replaced by one that answers at once (headers,
  body, signature, JSON, the answer; uvloop + httptools, as deployed);
- **store**: `EventStore.write_events` in batches of 24 (what the writer commits under wrk's 32
  connections) into a store already holding `--rows` events, with every index the screens use;
- **text index**: `index_search_text` per event (the inbox's search; the console does it in the
  background, the receiver alone does not).

The ceiling is `cores / (wrk + receive + store [+ text index])`: reached only if every piece ran
in parallel with the others and nothing waited, which one Python process (one GIL) cannot do.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.store import EventRecord, EventStore
from lean_api.webhooks import parse_event
from tests.bench.ingest_wrk import (
    ROOT,
    SECRET,
    children_cpu_seconds,
    cpu_seconds,
    lua_script,
    run_wrk,
    wait_until_up,
)
from tests.bench.webhook_throughput import body as event_body
from tests.ports import free_port

RESULTS = ROOT / "bench" / "ingest_budget.json"
BARE_APP = "from tests.bench.ingest_wrk import BARE_APP; exec(BARE_APP)"
# The receiver alone, its store answering every batch at once without touching a database.
NO_STORE = """
import sys
from console import store
store.EventStore.write_events = lambda self, records: [
    store.WriteResult(record.event_id, 1) for record in records
]
from console.webhooks import main
main(["--port", sys.argv[1]])
"""


def under_wrk(command: list[str], port: int, script: Path, seconds: int) -> dict[str, Any]:
    """wrk against one server; its figures with the server's and wrk's CPU per request."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAN_")}
    env.update({"PYTHONPATH": str(ROOT), "LEAN_WEBHOOK_SECRET": SECRET})
    with tempfile.TemporaryDirectory(prefix="lean-budget-") as tmp:
        env["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'budget.db'}"
        process = subprocess.Popen(
            command, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/webhooks/lean", process)
            time.sleep(1)  # start-up's own work done
            server_before, wrk_before = cpu_seconds(process.pid), children_cpu_seconds()
            result = run_wrk(f"http://127.0.0.1:{port}", script, seconds, 32)
            requests = max(result["requests"], 1)
            result["server_us"] = 1e6 * (cpu_seconds(process.pid) - server_before) / requests
            result["wrk_us"] = 1e6 * (children_cpu_seconds() - wrk_before) / requests
        finally:
            process.terminate()
            process.wait(timeout=15)
    return result


def records(count: int, start: int) -> list[EventRecord]:
    """`count` unique refresh deliveries as the receiver stores them."""
    now = datetime.now(UTC)
    bodies = [event_body(n) for n in range(start, start + count)]
    return [
        EventRecord.of(parse_event(raw), raw, received_at=now, verified=True, source_ip="127.0.0.1")
        for raw in bodies
    ]


def store_costs(rows: int, batches: int) -> dict[str, float]:
    """CPU per event of storing (batches of 24) and of text-indexing, on SQLite."""
    with tempfile.TemporaryDirectory(prefix="lean-budget-") as tmp:
        store = EventStore(f"sqlite:///{Path(tmp) / 'store.db'}")
        store.migrate()
        for start in range(0, rows, 2000):  # the store a busy book has, indexes and all
            store.write_events(records(min(2000, rows - start), start))
        while store.index_search_text(limit=5000):
            pass
        work = [records(24, rows + 24 * n) for n in range(batches)]
        started = time.process_time()
        for batch in work:
            store.write_events(batch)
        write_us = 1e6 * (time.process_time() - started) / (24 * batches)
        started, indexed = time.process_time(), 0
        while added := store.index_search_text(limit=100):
            indexed += added
        text_us = 1e6 * (time.process_time() - started) / max(indexed, 1)
        store.dispose()
    return {"store_us": write_us, "text_index_us": text_us}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.ingest_budget")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rows", type=int, default=50_000, help="events already stored")
    parser.add_argument("--batches", type=int, default=300)
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="lean-budget-") as tmp:
        script = Path(tmp) / "post.lua"
        lua_script(30_000, script)
        port = free_port()
        bare = under_wrk(
            [sys.executable, "-c", BARE_APP + "\nimport uvicorn\nuvicorn.run(app, port="
             f"{port}, loop='uvloop', http='httptools', log_level='warning')"],
            port, script, args.seconds,
        )  # fmt: skip
        port = free_port()
        receive = under_wrk([sys.executable, "-c", NO_STORE, str(port)], port, script, args.seconds)
    costs = store_costs(args.rows, args.batches)
    wrk_us = bare["wrk_us"]
    pieces = {
        "wrk": wrk_us,
        "receive": receive["server_us"],
        "store": costs["store_us"],
        "text index": costs["text_index_us"],
    }
    receiver_us = wrk_us + pieces["receive"] + pieces["store"]
    console_us = receiver_us + pieces["text index"]
    ceilings = {
        "receiver alone": 1e6 * cores / receiver_us,
        "make run's server": 1e6 * cores / console_us,
    }
    print(f"\nCPU per delivery on this machine ({cores} cores), each piece measured alone")
    for name, value in pieces.items():
        print(f"  {name:<12} {value:7.0f} µs")
    print(f"  bare endpoint: {bare['rps']:.0f} req/s ({bare['server_us']:.0f} µs server CPU)")
    print(f"  receive alone under wrk: {receive['rps']:.0f} req/s, p99 {receive['p99_ms']} ms")
    for name, value in ceilings.items():
        print(f"  ceiling, {name}: {value:,.0f} req/s = {value / bare['rps']:.2f}× bare")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "cores": cores,
                "load_average_at_end": os.getloadavg(),
                "bare": bare,
                "receive_without_store": receive,
                "cpu_us_per_delivery": pieces,
                "ceiling_rps": ceilings,
                "ceiling_x_bare": {k: v / bare["rps"] for k, v in ceilings.items()},
            },
            indent=2,
        )
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
