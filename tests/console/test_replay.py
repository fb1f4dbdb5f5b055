"""The replay tool signs a saved body with the configured secret and posts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from console.store import EventStore
from console.webhooks import WEBHOOK_PATH, ReceiverConfig, WebhookReceiver, create_app
from sandbox.server import ThreadedServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_replay_test"


def run_replay(*args: str, secret: str | None = SECRET) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAN_")}
    env["PYTHONPATH"] = str(ROOT)
    if secret:
        env["LEAN_WEBHOOK_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "console.replay", *args],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_replayed_body_is_verified_and_stored(tmp_path: Path) -> None:
    store = EventStore(f"sqlite:///{tmp_path / 'events.db'}")
    saved = tmp_path / "incident.json"
    saved.write_text(
        json.dumps(
            {
                "type": "entity.updated",
                "payload": {"id": "e-7", "customer_id": "c-7"},
                "event_id": "incident-7",
            }
        )
    )
    with ThreadedServer(
        create_app(WebhookReceiver(store, ReceiverConfig(secret=SECRET))), lifespan="on"
    ) as server:
        url = server.url + WEBHOOK_PATH
        signed = run_replay(str(saved), "--url", url)
        unsigned = run_replay(str(saved), "--url", url, "--unsigned")
        wrong = run_replay(str(saved), "--url", url, secret="not-the-secret")
    assert signed.returncode == 0 and signed.stdout.startswith("200")
    assert store.get_event("incident-7").verified  # type: ignore[union-attr]
    assert unsigned.returncode == 1 and unsigned.stdout.startswith("401")
    assert wrong.returncode == 1 and "does not match" in wrong.stdout


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run_replay(str(tmp_path / "nope.json"), "--url", "http://127.0.0.1:9/x")
    assert result.returncode == 2 and "Cannot read" in result.stderr


def test_unreachable_receiver_is_a_clear_error(tmp_path: Path) -> None:
    saved = tmp_path / "e.json"
    saved.write_text("{}")
    result = run_replay(str(saved), "--url", "http://127.0.0.1:9/webhooks/lean")
    assert result.returncode == 1 and "Could not reach" in result.stderr
