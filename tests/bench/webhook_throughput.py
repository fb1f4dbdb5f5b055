"""Webhook receiver throughput: group commit against a commit per request, SQLite and PostgreSQL.

    make bench            # or: python -m tests.bench.webhook_throughput --requests 4000

The receiver runs as it is deployed (`uvicorn console.webhooks:app`, uvloop + httptools) in its
own process; the load comes from another process over loopback, each request a signed, unique
event. Reported: requests per second and latency percentiles, per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import requests

from console.store import EventStore
from lean_api.webhooks import SIGNATURE_HEADER, generate_signature_header
from tests.pgcluster import postgres_cluster
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_bench"


def body(n: int) -> bytes:
    return json.dumps(
        {
            "type": "entity.data.refresh.updated",
            "message": "An entity data refresh state has been updated.",
            "event_id": str(uuid.uuid4()),
            "timestamp": "2026-11-28T10:00:00.123456789Z",
            "payload": {
                "refresh_id": str(uuid.uuid4()),
                "entity_id": str(uuid.uuid4()),
                "customer_id": str(uuid.uuid4()),
                "app_user_id": f"usr_{n}",
                "status": "FINISHED",
                "data_status": {
                    "accounts": "SUCCESS",
                    "identity": "SUCCESS",
                    "account_data": [
                        {
                            "account_id": str(uuid.uuid4()),
                            "balance": "SUCCESS",
                            "transactions": "PARTIAL",
                            "transaction_availability": {
                                "start": "2025-11-01",
                                "end": "2026-11-27",
                                "complete_months": 12,
                            },
                        }
                    ],
                },
            },
        }
    ).encode()


def start_receiver(database_url: str, max_batch: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LEAN_WEBHOOK_SECRET": SECRET,
        "LEAN_WEBHOOK_MAX_BATCH": str(max_batch),
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "console.webhooks:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url + "/webhooks/lean"
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("receiver did not start")


def load(url: str, total: int, concurrency: int) -> dict[str, float]:
    bodies = [body(n) for n in range(total)]
    signed = [(b, generate_signature_header(b, SECRET)) for b in bodies]
    sessions: dict[int, requests.Session] = {}
    latencies: list[float] = []
    failures = 0

    def send(item: tuple[bytes, str]) -> None:
        nonlocal failures
        import threading

        session = sessions.setdefault(threading.get_ident(), requests.Session())
        started = time.perf_counter()
        response = session.post(
            url,
            data=item[0],
            headers={SIGNATURE_HEADER: item[1], "Content-Type": "application/json"},
            timeout=30,
        )
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            failures += 1

    # Warm-up: connections, the schema, the writer thread.
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, signed[: concurrency * 2]))
    latencies.clear()
    measured = signed[concurrency * 2 :]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, measured))
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(measured),
        "rps": len(measured) / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p95_ms": quantiles[94] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args(argv)

    print(f"{args.requests} signed unique events per run, {args.concurrency} concurrent clients, loopback, "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    print(
        f"{'database':<11} {'batch':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'stored':>7} {'failed':>6}"
    )
    with ExitStack() as stack:
        for database in args.databases.split(","):
            for max_batch in (1, 256):
                if database == "sqlite":
                    directory = stack.enter_context(tempfile.TemporaryDirectory())
                    url = f"sqlite:///{directory}/bench.db"
                else:
                    # fsync on: the comparison is about what a durable commit costs.
                    url = stack.enter_context(postgres_cluster(fsync=True))
                EventStore(url).migrate()
                process, endpoint = start_receiver(url, max_batch)
                try:
                    result = load(endpoint, args.requests, args.concurrency)
                finally:
                    process.terminate()
                    process.wait(timeout=10)
                stored = EventStore(url).count_events()
                print(f"{database:<11} {max_batch:>6} {result['rps']:>8.0f} {result['p50_ms']:>8.1f} {result['p95_ms']:>8.1f} "
                      f"{result['p99_ms']:>8.1f} {stored:>7} {result['failures']:>6.0f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
