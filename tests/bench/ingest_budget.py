"""What one delivery costs, piece by piece, and the most this machine could answer.

    python -m tests.bench.ingest_budget      # ~2 minutes; writes bench/ingest_budget.json

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

Then the same wrk load against servers that add the receiver's layers one at a time (`LAYERS`):
a plain ASGI endpoint on uvicorn that reads the body and answers (no framework), the same
verifying, parsing and modelling each delivery, the receiver with a store answering at once,
the receiver on SQLite without the inbox's secondary indexes, and the receiver as deployed;
each against the bare Starlette endpoint of the same run.
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

# The layers of a delivery, each a server of its own under the same wrk load: what the HTTP
# server itself costs, then each piece of the receiver added in turn (README, "The CPU budget").
_PLAIN_ASGI = """
import sys
import uvicorn
from console.serving import freeze_start_up_heap

START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-length", b"19"), (b"content-type", b"application/json")]}
BODY = {"type": "http.response.body", "body": b'{"status":"stored"}'}

def work(scope, body):
    pass

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    work(scope, b"".join(chunks))
    await send(START)
    await send(BODY)
"""
_SERVE = """
freeze_start_up_heap()
uvicorn.run(app, port=int(sys.argv[1]), loop="uvloop", http="httptools",
            log_level="warning", access_log=False, lifespan="off")
"""
PLAIN_ASGI = _PLAIN_ASGI + _SERVE
# The same, verifying, parsing and modelling each delivery as the receiver does.
VERIFY_AND_PARSE = (
    _PLAIN_ASGI
    + """
from datetime import UTC, datetime
from console.store import EventRecord
from lean_api.webhooks import parse_event, verify_signature
from tests.bench.ingest_wrk import SECRET

def work(scope, body):
    if scope["method"] != "POST":  # the bench's check that the server is up
        return
    signature = next((v.decode() for k, v in scope["headers"] if k == b"lean-signature"), None)
    verify_signature(body, signature, SECRET)
    EventRecord.of(parse_event(body), body, received_at=datetime.now(UTC), verified=True,
                   source_ip=scope["client"][0])
"""
    + _SERVE
)
# The receiver alone on SQLite without the inbox's ten secondary indexes (the event's row, its
# primary key and the unique event_id only).
NO_SECONDARY_INDEXES = """
import os
import sqlite3
import sys
from console.store import EventStore
url = os.environ["DATABASE_URL"]
EventStore(url).migrate()
db = sqlite3.connect(url.removeprefix("sqlite:///"))
for (name,) in db.execute(
    "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_webhook_events_%'"
).fetchall():
    db.execute(f"DROP INDEX {name}")
db.commit()
db.close()
from console.webhooks import main
main(["--port", sys.argv[1]])
"""
RECEIVER = """
import sys
from console.webhooks import main
main(["--port", sys.argv[1]])
"""
LAYERS = {
    "plain ASGI endpoint (uvicorn + httptools, stores nothing)": PLAIN_ASGI,
    "+ verify, parse, model": VERIFY_AND_PARSE,
    "receiver, store answering at once": NO_STORE,
    "receiver, SQLite without secondary indexes": NO_SECONDARY_INDEXES,
    "receiver, SQLite as deployed": RECEIVER,
}


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
        layers: dict[str, dict[str, Any]] = {}
        for name, source in LAYERS.items():
            port = free_port()
            layers[name] = under_wrk([sys.executable, "-c", source, str(port)], port, script,
                                     args.seconds)  # fmt: skip
        receive = layers["receiver, store answering at once"]
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
    print("\nLayer by layer under the same wrk load (each alone on the machine)")
    print(f"  {'server':<58} {'req/s':>7} {'× bare':>7} {'p99 ms':>7} {'CPU µs':>7}")
    for name, layer in {"bare endpoint (Starlette)": bare, **layers}.items():
        print(f"  {name:<58} {layer['rps']:7.0f} {layer['rps'] / bare['rps']:7.2f} "
              f"{layer['p99_ms']:7.1f} {layer['server_us']:7.0f}")  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "cores": cores,
                "load_average_at_end": os.getloadavg(),
                "bare": bare,
                "receive_without_store": receive,
                "layers": layers,
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
