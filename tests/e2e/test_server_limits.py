"""`make run`'s server under pressure: a locked database, slow senders, and the README's tools."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ROOT, Console

pytestmark = pytest.mark.e2e


def test_log_says_where_the_console_and_the_sandbox_listen(console: Console) -> None:
    text = console.log.read_text()
    assert f"Lean Ops Console: http://localhost:{console.url.rsplit(':', 1)[1]}" in text
    match = re.search(r"Embedded Lean sandbox: (http://127\.0\.0\.1:\d+)", text)
    assert match, text[-2000:]
    # The README's fault example, against that address.
    faults = requests.put(f"{match[1]}/_sandbox/faults", data="{}", timeout=5)
    assert faults.status_code == 200


def test_replay_signs_for_a_default_console(console: Console, tmp_path: Path) -> None:
    saved = tmp_path / "incident.json"
    saved.write_text(json.dumps({"type": "entity.updated", "event_id": "replayed-incident-1"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAN_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "console.replay",
            str(saved),
            "--url",
            f"{console.url}/webhooks/lean",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and result.stdout.startswith("200"), result


def test_a_locked_database_does_not_stall_the_screens(console: Console) -> None:
    database = console.database_url.removeprefix("sqlite:///")
    lock = sqlite3.connect(database, timeout=10, isolation_level=None)
    slowest = 0.0
    try:
        lock.execute("BEGIN EXCLUSIVE")
        statuses: list[int] = []

        def unsigned() -> None:
            statuses.append(
                requests.post(f"{console.url}/webhooks/lean", data=b"{}", timeout=10).status_code
            )

        threads = [threading.Thread(target=unsigned) for _ in range(20)]
        for thread in threads:
            thread.start()
        for path in ["/_stcore/health", "/healthz", "/_stcore/health", "/healthz"]:
            started = time.monotonic()
            requests.get(console.url + path, timeout=10)
            slowest = max(slowest, time.monotonic() - started)
        for thread in threads:
            thread.join()
        assert statuses == [401] * 20
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert slowest < 1.0, f"the server took {slowest:.2f} s to answer while the database was locked"


def test_slow_headers_are_cut_off(console: Console) -> None:
    host, port = console.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(b"POST /webhooks/lean HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 15:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
                sock.settimeout(1)
                if sock.recv(100) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        assert closed and time.monotonic() - started < 12.5


def test_the_webhook_path_answers_only_post(console: Console) -> None:
    """A browser or a probe opening the webhook URL gets 405, not the screens' page."""
    for method in ("GET", "PUT", "DELETE"):
        answer = requests.request(method, f"{console.url}/webhooks/lean", timeout=10)
        assert answer.status_code == 405, (method, answer.status_code)
        assert answer.headers["allow"] == "POST"
        assert "only POST" in answer.json()["error"]
