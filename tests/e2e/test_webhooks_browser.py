"""`make run`'s server: the sandbox back-fills and streams signed webhooks; forged ones get 401."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from console.store import EventFilter, EventStore

pytestmark = pytest.mark.e2e


def wait_for(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.5)


def test_history_and_live_events_reach_the_inbox(
    console_url: str, console_db: str, browser: Any
) -> None:
    store = EventStore(console_db)
    wait_for(lambda: store.count_events(EventFilter(types=("bank.availability.updated",))) > 0)
    # 30 days of history arrive in a burst after start-up; run first, this test sees it arrive.
    wait_for(lambda: store.count_events() > 500, timeout=120)
    started = store.count_events()
    history = store.query_events(limit=1, offset=started - 1)[0]
    assert (time.time() - history.occurred_at.timestamp()) > 7 * 86400  # oldest event is weeks old
    wait_for(lambda: store.count_events() > started + 2)  # live events keep coming
    assert all(e.verified for e in store.query_events(limit=200))

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{console_url}/webhooks")
    page.get_by_text("Inbox (").first.wait_for(timeout=30_000)
    # The table is drawn on a canvas; its accessible grid cells are in the DOM but hidden.
    cell = page.locator("[data-testid^='glide-cell']", has_text="Data refresh").first
    cell.wait_for(state="attached", timeout=30_000)
    assert page.get_by_text("signatures are verified").is_visible()
    page.close()


def test_bad_signature_gets_401_and_is_recorded(console_url: str, console_db: str) -> None:
    body = json.dumps(
        {"type": "entity.created", "payload": {"id": "forged"}, "event_id": "forged-1"}
    ).encode()
    response = requests.post(
        f"{console_url}/webhooks/lean",
        data=body,
        headers={"lean-signature": "sha512=" + "ab" * 64},
        timeout=10,
    )
    assert response.status_code == 401
    store = EventStore(console_db)
    assert store.get_event("forged-1") is None

    # Rejections are written by a background log, after the answer: wait for this one.
    def recorded() -> bool:
        return any(
            r["reason"] == "signature does not match the body" and r["size"] == len(body)
            for r in store.list_rejections(limit=50)
        )

    wait_for(recorded, timeout=10)


def test_public_healthz_says_up_and_nothing_else(console_url: str) -> None:
    response = requests.get(f"{console_url}/healthz", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "up"}
