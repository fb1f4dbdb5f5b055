"""Support triages three seeded customers in a real browser, against the console as `make run`
starts it: an expired consent, a refresh stuck PENDING, and an `entity.created` our endpoint
refused (the embedded sandbox's back-fill signs that one with a rotated secret).

Screenshots of each go to an artefacts folder under the test's tmp path and to
/tmp/triage_shots/ (or SCREENSHOT_DIR), to be looked at."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from console.store import EventStore
from sandbox import seed

pytestmark = pytest.mark.e2e
LOOK_AT = Path(os.environ.get("SCREENSHOT_DIR") or "/tmp/triage_shots")
DATA = seed.generate()  # the same seed and day the embedded sandbox uses


def wait_for(condition: Any, what: str, timeout: float = 120) -> None:
    """Poll the console's database until `condition()` holds (the back-fill takes a while)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.5)


def triage(browser: Any, console_url: str, q: str, shot: str, tmp_path: Path) -> str:
    """Open /triage?q=… at 1400 px, wait for the diagnosis and the timeline, screenshot it and
    return the page's text."""
    artefacts = tmp_path / "artefacts"
    artefacts.mkdir(parents=True, exist_ok=True)
    LOOK_AT.mkdir(parents=True, exist_ok=True)
    # Tall enough for the whole screen: Streamlit scrolls inside the page, not the window.
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    try:
        page.goto(f"{console_url}/triage?q={q}")
        path = artefacts / shot
        try:
            page.get_by_role("heading", name="Diagnosis").wait_for(timeout=90_000)
            page.locator("[data-testid=stDataFrame]").first.wait_for(timeout=90_000)
            page.get_by_role("button", name="Download debug bundle").first.wait_for(timeout=90_000)
            page.wait_for_timeout(2000)
        finally:
            page.screenshot(path=str(path), full_page=True)
            shutil.copy(path, LOOK_AT / shot)
        return page.inner_text("body")
    finally:
        page.close()


def test_triage_of_a_customer_whose_consent_expired(
    console_url: str, browser: Any, tmp_path: Path
) -> None:
    customer = seed.expired_consent_customer(DATA)
    assert customer is not None
    text = triage(browser, console_url, customer.customer_id, "triage_expired.png", tmp_path)
    assert "Consent expired" in text and "Action needed" in text
    assert "Ask the customer to reconnect" in text
    assert "consent_expired" in text
    assert customer.person.first_en not in text


def test_triage_of_a_customer_whose_refresh_is_stuck(
    console_url: str, console_db: str, browser: Any, tmp_path: Path
) -> None:
    customer = seed.stuck_refresh_customer(DATA)
    assert customer is not None
    [entity] = DATA.entities_by_customer[customer.customer_id]
    stuck = max(entity.refreshes, key=lambda r: r.created_at)
    # Pasted as the refresh_id from the ticket: the stored webhook leads to its customer.
    store = EventStore(console_db)
    wait_for(
        lambda: store.refresh_status(stuck.refresh_id) is not None, "the stuck refresh's webhook"
    )
    text = triage(browser, console_url, stuck.refresh_id, "triage_stuck_refresh.png", tmp_path)
    assert "Refresh pending for" in text and "Escalate to Lean" in text
    assert stuck.refresh_id in text


def test_triage_of_a_customer_whose_entity_created_was_refused(
    console_url: str, console_db: str, browser: Any, tmp_path: Path
) -> None:
    entity = seed.refused_webhook_entity(DATA)
    assert entity is not None
    store = EventStore(console_db)
    wait_for(
        lambda: any(
            r["claimed_entity_id"] == entity.entity_id for r in store.list_rejections(limit=500)
        ),
        "the refused entity.created",
    )
    text = triage(browser, console_url, entity.customer_id, "triage_refused_webhook.png", tmp_path)
    assert "Our endpoint refused the bank connection's entity.created webhook" in text
    assert "signature did not match" in text and entity.entity_id in text
    assert "webhook secret" in text
