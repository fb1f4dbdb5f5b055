"""Webhook ingest under wrk, side by side with a bare endpoint on the same server stack.

    make bench        # or: python -m tests.bench.ingest_wrk --seconds 10 --connections 32

Load comes from `wrk` (Debian's package; native, so it does not steal the Python process's
time the way a Python load generator does) with a Lua script cycling through pre-signed, unique
refresh events (~0.7 KB). In one run, against:

- **bare**: a Starlette endpoint on uvicorn (uvloop + httptools) that reads the body and answers
  200 without storing anything: the server stack's own ceiling on this machine;
- **console**: `streamlit run server.py`, exactly as `make run` starts it (SQLite by default);
- **receiver**: the receiver alone (`python -m console.webhooks`), same database kind.

After each store-backed run the database is checked: every acknowledged event is stored exactly
once. Results are printed as a table and written to `bench/results.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

from console.store import EventStore
from lean_api.webhooks import generate_signature_header
from tests.bench.webhook_throughput import body as event_body
from tests.pgcluster import postgres_cluster
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_bench_ingest"
RESULTS = ROOT / "bench" / "results.json"

BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def webhook(request):
    await request.body()
    return JSONResponse({"status": "stored"})

app = Starlette(routes=[Route("/webhooks/lean", webhook, methods=["POST"])])
"""


def lua_script(count: int, path: Path) -> None:
    """A wrk script cycling through `count` pre-signed unique bodies (each thread its own slice)."""
    lines = ["local bodies = {}", "local signatures = {}"]
    for n in range(count):
        body = event_body(n)
        lines.append(f"bodies[{n + 1}] = {json.dumps(body.decode())}")
        lines.append(f'signatures[{n + 1}] = "{generate_signature_header(body, SECRET)}"')
    lines.append(
        f"""
local count = {count}
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  index = id
end
function request()
  local i = (index % count) + 1
  index = index + 2
  return wrk.format("POST", "/webhooks/lean", {{["Content-Type"] = "application/json", ["lean-signature"] = signatures[i]}}, bodies[i])
end
"""
    )
    path.write_text("\n".join(lines))


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, Any]:
    """wrk's own report: requests/s, latency percentiles, errors."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout

    def latency(label: str) -> float | None:
        match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not match:
            return None
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    total = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests": total,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),  # type: ignore[index]
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "socket_errors": socket_errors[1].strip() if socket_errors else "",
    }


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def settle(database: str, timeout: float = 300) -> None:
    """Wait for `make run`'s start-up work: the embedded sandbox's 30-day back-fill, the book
    indexer catching up with it, and the first book sync (its long write transactions hold
    SQLite's single write lock; measured during it, ingest drops to ~70 req/s with p99 ~2 s)."""
    from console.book_queries import index_status

    store = EventStore(database)
    deadline = time.monotonic() + timeout
    settled, last = 0, None
    while settled < 3 and time.monotonic() < deadline:
        status = index_status(store)
        running = status.last_sync is not None and status.last_sync.finished_at is None
        state = (store.count_events(), status.events_pending, running)
        done = status.last_finished_sync is not None and not running and not status.events_pending
        settled = settled + 1 if done and state == last else 0
        last = state
        time.sleep(1)
    store.dispose()


def children_cpu_seconds() -> float:
    """CPU time (user + system) of this process's finished, waited-for children: wrk's, once
    `run_wrk` returns (the servers are waited for only when they stop)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh_database(server_url: str, name: str) -> str:
    """A new, empty database `name` on the PostgreSQL server of `server_url`; its URL."""
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


# A running PostgreSQL server writes its WAL into segment files it recycled at a checkpoint.
# A new cluster has none: every 16 MB of WAL (~6 s of this load) it makes and zero-fills a new
# file while holding the WAL write lock, and every commit waits 30-60 ms for it on this disk.
# min_wal_size keeps enough recycled files for the whole bench between checkpoints.
WAL_SETTINGS = {"min_wal_size": "1GB", "max_wal_size": "4GB"}


def recycle_wal(server_url: str, segments: int = 48) -> int:
    """Bring a new cluster's WAL to a running server's state: make `segments` WAL files, then
    checkpoint so they are recycled for what follows. Returns the WAL files there are then."""
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE wal_warm_up (n integer)"))
        for n in range(segments):
            conn.execute(text("INSERT INTO wal_warm_up VALUES (:n)"), {"n": n})
            conn.execute(text("SELECT pg_switch_wal()"))
        conn.execute(text("DROP TABLE wal_warm_up"))
        conn.execute(text("CHECKPOINT"))
        files = conn.execute(text("SELECT count(*) FROM pg_ls_waldir()")).scalar_one()
    engine.dispose()
    return int(files)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) the process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(
    kind: str, workdir: Path, postgres: str | None = None
) -> Iterator[tuple[str, str | None, int]]:
    """Start one server kind (on SQLite, or on a fresh database of `postgres`); yield (base URL,
    database URL or None, the server's process id)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAN_")}
    if postgres and kind != "bare":
        database = fresh_database(postgres, f"bench_{kind}")
    else:
        database = f"sqlite:///{workdir / f'{kind}.db'}"
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "LEAN_WEBHOOK_SECRET": SECRET,
            "DATABASE_URL": database,
            "LEAN_SANDBOX_WEBHOOK_INTERVAL": "0",
            "LEAN_SANDBOX_PORT": "0",
        }
    )
    if kind == "bare":
        (workdir / "bare_app.py").write_text(BARE_APP)
        command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port),
                   "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]  # fmt: skip
        cwd, health, database = workdir, None, None
    elif kind == "console":
        env.update({"STREAMLIT_SERVER_PORT": str(port), "STREAMLIT_SERVER_HEADLESS": "true"})
        command = [sys.executable, "-m", "streamlit", "run", "server.py"]
        cwd, health = ROOT, "/healthz"
    else:
        command = [sys.executable, "-m", "console.webhooks", "--port", str(port)]
        cwd, health = ROOT, "/healthz"
    log = (workdir / f"{kind}.log").open("w")
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + (health or "/webhooks/lean"), process)
        if kind == "console":
            settle(database)
        yield url, database, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def measure(
    kinds: tuple[str, ...],
    workdir: Path,
    script: Path,
    args: argparse.Namespace,
    postgres: str | None,
) -> list[dict[str, Any]]:
    """wrk against each server kind in turn; each store-backed run checked for exactly once."""
    rows = []
    for kind in kinds:
        with serve(kind, workdir, postgres) as (url, database, pid):
            before = EventStore(database).count_events() if database else 0
            cpu_before = cpu_seconds(pid)
            wrk_before = children_cpu_seconds()
            result = run_wrk(url, script, args.seconds, args.connections)
            # The server's own CPU per answered request: steadier than req/s on a shared machine.
            result["cpu_us_per_request"] = round(
                1e6 * (cpu_seconds(pid) - cpu_before) / max(result["requests"], 1), 1
            )
            # And the load generator's, on the same two cores: together they say how many
            # requests a second the machine could answer at best (the README's CPU budget).
            result["wrk_cpu_us_per_request"] = round(
                1e6 * (children_cpu_seconds() - wrk_before) / max(result["requests"], 1), 1
            )
            result["kind"] = kind
            result["database"] = (
                None if kind == "bare" else ("postgresql" if postgres else "sqlite")
            )
            if database:
                store = EventStore(database)
                time.sleep(1)
                stored = store.count_events() - before
                acknowledged = result["requests"] - result["non_2xx"]
                with store.engine.connect() as conn:
                    repeated = conn.execute(
                        text("SELECT count(*) FROM webhook_events WHERE delivery_count > 1")
                    ).scalar_one()
                result["stored"] = stored
                # Unique bodies, so every acknowledged event is one row, never two deliveries
                # of one (unless wrk wrapped around the bodies). Requests still in flight when
                # wrk stopped counting (at most one per connection) may be stored as well.
                result["stored_exactly_once"] = (
                    acknowledged <= args.bodies
                    and repeated == 0
                    and acknowledged <= stored <= acknowledged + args.connections
                )
                store.dispose()
            rows.append(result)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; print a table; write bench/results.json."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.ingest_wrk")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--bodies", type=int, default=30_000, help="pre-signed unique events")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="the store behind the console and the receiver (PostgreSQL: a cluster of its own, "
        "fsync on)",
    )
    parser.add_argument(
        "--fresh-wal",
        action="store_true",
        help="PostgreSQL: measure a new cluster as it is, creating and zero-filling its WAL files "
        "during the load, instead of one whose WAL files are recycled like a running server's",
    )
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is missing: `make bench` installs it (apt-get install wrk).", file=sys.stderr)
        return 2

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lean-bench-") as tmp:
        workdir = Path(tmp)
        script = workdir / "post.lua"
        lua_script(args.bodies, script)
        if args.database in ("sqlite", "both"):
            rows += measure(("bare", "console", "receiver"), workdir, script, args, None)
        if args.database in ("postgresql", "both"):
            with postgres_cluster(
                fsync=True, settings=None if args.fresh_wal else WAL_SETTINGS
            ) as server_url:
                if not args.fresh_wal:
                    print(f"PostgreSQL: {recycle_wal(server_url)} WAL files ready for reuse")
                kinds = ("console", "receiver") if rows else ("bare", "console", "receiver")
                rows += measure(kinds, workdir, script, args, server_url)

    bare = next(r for r in rows if r["kind"] == "bare")["rps"]
    print(f"\nwrk -t2 -c{args.connections} -d{args.seconds}s, ~0.7 KB signed unique refresh events")
    print(
        f"{'server':<10} {'store':<11} {'req/s':>9} {'× bare':>7} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'stored once':>12} {'CPU µs/req':>11} {'wrk µs/req':>11}"
    )
    for r in rows:
        once = (
            ""
            if "stored" not in r
            else ("yes" if r["stored_exactly_once"] else f"NO ({r['stored']})")
        )
        print(
            f"{r['kind']:<10} {r['database'] or '':<11} {r['rps']:>9.0f} {r['rps'] / bare:>7.2f} {r['p50_ms'] or 0:>8.1f} "
            f"{r['p99_ms'] or 0:>8.1f} {r['non_2xx']:>8} {once:>12} {r['cpu_us_per_request']:>11.0f} {r['wrk_cpu_us_per_request']:>11.0f}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).isoformat(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    # Other work on the machine shows here: the figures are only comparable
                    # side by side, within one run.
                    "load_average_at_end": os.getloadavg(),
                },
                "load": {
                    "tool": "wrk",
                    "threads": 2,
                    "connections": args.connections,
                    "seconds": args.seconds,
                },
                "postgresql_wal": "fresh" if args.fresh_wal else "recycled",
                "ingest": rows,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
