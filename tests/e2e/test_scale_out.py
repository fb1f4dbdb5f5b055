"""Scale-out, for real: two receivers and two consoles (separate processes) on one PostgreSQL.

All four start at once against a fresh database (each migrates at start; one does the work).
Signed events are posted concurrently to both receivers; one receiver is killed with SIGKILL in
the middle of the load, and the client, as Lean does, sends whatever was not acknowledged
again, to the receiver still up. Then every event is stored exactly once, each acknowledgement
is backed by a stored row, the delivery counts add up, and both consoles show the events.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine

from lean_api.webhooks import SIGNATURE_HEADER, generate_signature_header
from sandbox.server import SandboxServer
from tests.pgcluster import fresh_postgres_database
from tests.ports import free_port
from tests.receivers import event

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_scale_out_test"
EVENTS = 400
# Lean delivers some events twice on its own; these go to both receivers at once.
REPEATED_EVERY = 10
KILL_AFTER_ACKS = EVENTS // 3


@dataclass
class Served:
    """One process of the deployment: what it is, where it answers, its output."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Ledger:
    """What the client (standing in for Lean) saw: every attempt and every acknowledgement."""

    attempts: Counter[str] = field(default_factory=Counter)
    acknowledged: Counter[str] = field(default_factory=Counter)
    # The delivery count each acknowledgement reported.
    reported: dict[str, list[int]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    first_acks: threading.Event = field(default_factory=threading.Event)
    acknowledged_at_kill: int = 0


@contextmanager
def deployment(database_url: str, sandbox: SandboxServer, workdir: Path) -> Iterator[list[Served]]:
    """Two receivers (`python -m console.webhooks`) and two consoles (`streamlit run server.py`,
    behind a sign-in proxy, pointed at a Lean sandbox), all started at once on one database."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEAN_", "CONSOLE_", "STREAMLIT_", "DATABASE_URL"))
    }
    base.update(
        {"PYTHONPATH": str(ROOT), "DATABASE_URL": database_url, "LEAN_WEBHOOK_SECRET": SECRET}
    )
    plans: list[tuple[str, list[str], dict[str, str], int]] = []
    for n in (1, 2):
        port = free_port()
        command = [sys.executable, "-m", "console.webhooks", "--port", str(port)]
        plans.append((f"receiver-{n}", command, base, port))
    for n in (1, 2):
        port = free_port()
        env = {
            **base,
            **sandbox.env(),
            "STREAMLIT_SERVER_PORT": str(port),
            "STREAMLIT_SERVER_HEADLESS": "true",
            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
            "LEAN_SANDBOX_PORT": "0",
            # The internal console: a sign-in proxy in front, nobody named → the default role.
            "CONSOLE_BEHIND_SIGN_IN": "true",
            "CONSOLE_DEFAULT_ROLE": "admin",
        }
        command = [sys.executable, "-m", "streamlit", "run", "server.py"]
        plans.append((f"console-{n}", command, env, port))
    served: list[Served] = []
    with ExitStack() as stack:
        for name, command, env, port in plans:
            log = workdir / f"{name}.log"
            out = stack.enter_context(log.open("wb"))
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
            stack.callback(stop, process)
            served.append(Served(name, f"http://127.0.0.1:{port}", process, log))
        for each in served:
            wait_until_up(each)
        yield served


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(served: Served, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(f"{served.url}/healthz", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        if served.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{served.name} did not start:\n{served.log.read_text()[-3000:]}")
        time.sleep(0.2)


def deliver(body: bytes, event_id: str, targets: list[str], ledger: Ledger) -> None:
    """Post until acknowledged, going on to the next receiver when one does not answer 200
    (Lean retries an unacknowledged delivery; here at once, against the survivor)."""
    headers = {SIGNATURE_HEADER: generate_signature_header(body, SECRET)}
    for attempt in range(40):
        url = targets[attempt % len(targets)]
        with ledger.lock:
            ledger.attempts[event_id] += 1
        try:
            response = requests.post(url, data=body, headers=headers, timeout=10)
        except requests.RequestException:
            continue
        if response.status_code == 200:
            answer = response.json()
            with ledger.lock:
                ledger.acknowledged[event_id] += 1
                ledger.reported.setdefault(event_id, []).append(int(answer["deliveries"]))
                if sum(ledger.acknowledged.values()) >= KILL_AFTER_ACKS:
                    ledger.first_acks.set()
            return
        if 400 <= response.status_code < 500:
            with ledger.lock:
                ledger.refused.append(f"{event_id}: {response.status_code} {response.text[:200]}")
            return
        time.sleep(0.05)  # 503: the store could not take it now
    raise AssertionError(f"{event_id} was never acknowledged")


def test_a_receiver_killed_mid_load_loses_nothing_acknowledged_and_stores_nothing_twice(
    postgres_url: str, sandbox: SandboxServer, browser: Any, tmp_path: Path
) -> None:
    database_url = fresh_postgres_database(postgres_url, "scale_out")
    with deployment(database_url, sandbox, tmp_path) as served:
        first, second, *consoles = served
        webhook = "/webhooks/lean"
        ledger = Ledger()
        bodies = {
            f"so-{i:04d}": event(f"so-{i:04d}", "entity.created", id=f"e{i}", customer_id=f"c{i}")
            for i in range(EVENTS)
        }
        jobs: list[tuple[str, list[str]]] = []
        for i, event_id in enumerate(bodies):
            # Half start at each receiver; each falls back to the other.
            order = [first.url + webhook, second.url + webhook]
            jobs.append((event_id, order if i % 2 else order[::-1]))
            if i % REPEATED_EVERY == 0:
                jobs.append((event_id, order[::-1] if i % 2 else order))

        def killer() -> None:
            ledger.first_acks.wait(timeout=60)
            first.process.send_signal(signal.SIGKILL)
            with ledger.lock:
                ledger.acknowledged_at_kill = sum(ledger.acknowledged.values())

        kill = threading.Thread(target=killer)
        kill.start()
        with ThreadPoolExecutor(max_workers=24) as pool:
            for outcome in [
                pool.submit(deliver, bodies[event_id], event_id, targets, ledger)
                for event_id, targets in jobs
            ]:
                outcome.result()
        kill.join()
        assert first.process.wait(timeout=10) == -signal.SIGKILL
        print(
            f"{len(jobs)} deliveries of {EVENTS} events, {sum(ledger.attempts.values())} "
            f"attempts; {ledger.acknowledged_at_kill} acknowledged when receiver-1 was killed"
        )
        # Killed mid-load: deliveries were still to come, and some had to go to the survivor.
        assert KILL_AFTER_ACKS <= ledger.acknowledged_at_kill < len(jobs)
        assert sum(ledger.acknowledged.values()) == len(jobs)
        assert sum(ledger.attempts.values()) > len(jobs)
        assert ledger.refused == []

        engine = create_engine(database_url)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT event_id, count(*), max(delivery_count), bool_and(verified) "
                "FROM webhook_events GROUP BY event_id"
            ).all()
        engine.dispose()
        stored = {
            event_id: (copies, deliveries, verified)
            for event_id, copies, deliveries, verified in rows
        }
        # Every event stored, each exactly once, signed.
        assert set(stored) == set(bodies)
        assert all(copies == 1 and verified for copies, _, verified in stored.values())
        for event_id, (_, deliveries, _) in stored.items():
            # Counted once per delivery that reached the database: at least every acknowledged
            # one, at most every attempt (one cut off by the kill may have been committed).
            assert ledger.acknowledged[event_id] <= deliveries <= ledger.attempts[event_id]
            # No acknowledgement reported more deliveries than were stored.
            assert max(ledger.reported[event_id]) <= deliveries
            assert sorted(ledger.reported[event_id]) == sorted(set(ledger.reported[event_id]))
        # Events sent twice on purpose are counted twice; the rest once, unless the kill cut one off.
        repeated = [f"so-{i:04d}" for i in range(0, EVENTS, REPEATED_EVERY)]
        assert all(stored[event_id][1] >= 2 for event_id in repeated)

        # The survivor and both consoles still answer; both consoles show the same events.
        for each in (second, *consoles):
            assert requests.get(f"{each.url}/healthz", timeout=5).status_code == 200
        shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        for console in consoles:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            try:
                page.goto(f"{console.url}/webhooks?q=so-")
                page.get_by_text(f"Inbox ({EVENTS:,} events stored)").wait_for(timeout=60_000)
                page.screenshot(path=str(shots / f"scale_out_{console.name}.png"))
            finally:
                page.close()
