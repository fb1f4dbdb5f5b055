"""An operator refreshes a bank connection's data from the Accounts & data screen in a real browser
and watches the refresh finish (the embedded sandbox finishes it after `refresh_seconds`)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import seed
from tests.e2e.conftest import click_when_settled

pytestmark = pytest.mark.e2e
# Where screenshots go when asked for (SCREENSHOT_DIR=/tmp/shots); otherwise the test's tmp dir.
SHOTS = os.environ.get("SCREENSHOT_DIR")


def healthy_entity() -> seed.SeedEntity:
    """A seeded connection with accounts, a consent active for a while yet, and no refresh running."""
    data = seed.generate()  # the same seed the embedded sandbox uses
    now = datetime.now(UTC)
    for entity in sorted(data.entities.values(), key=lambda e: e.entity_id):
        consent = entity.current_consent
        if (
            entity.accounts
            and consent.status == "ACTIVE"
            and consent.expires > now + timedelta(days=2)
            and all(r.finishes_at is not None and r.finishes_at <= now for r in entity.refreshes)
        ):
            return entity
    raise AssertionError("no healthy seeded entity")


def test_trigger_refresh_and_watch_it_finish(
    console_url: str, browser: Any, tmp_path: Path
) -> None:
    entity = healthy_entity()
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{console_url}/data?entity_id={entity.entity_id}")
        page.get_by_role("heading", name="Accounts & data").wait_for(timeout=30_000)
        page.get_by_role("heading", name="Saved payments").wait_for(timeout=30_000)

        # (Generous timeouts: on a loaded 2-core machine the browser may lay the page out
        # seconds after the script's last message.) The last section is there first.
        page.get_by_role("heading", name="Verify ownership").wait_for(timeout=60_000)
        started = page.get_by_text("started from this console")
        # The server's sandbox starts refreshes of its own every second or so (its live feed),
        # on any connection Lean would refresh, this one included: the console then answers
        # that one is already running (Lean's 429) and follows it. Once it finished, ask again.
        running = page.get_by_text("A refresh is already running for this bank connection")
        for attempt in range(2):
            click_when_settled(page, page.get_by_role("button", name="Refresh data now"))
            page.get_by_text("Ask the bank for fresh data now?").wait_for(timeout=30_000)
            click_when_settled(page, page.get_by_role("button", name="Yes, refresh now"))
            started.or_(running).first.wait_for(timeout=60_000)
            if started.count() or attempt:
                break
            page.get_by_text("Finished —").first.wait_for(timeout=90_000)
        started.wait_for(timeout=60_000)
        page.screenshot(path=str(shots / "refresh_pending.png"), full_page=True)

        # The fragment checks every 2 s; the embedded sandbox finishes after 8 s.
        page.get_by_text("Finished —").first.wait_for(timeout=90_000)
        page.wait_for_timeout(1000)
        assert page.get_by_text("started from this console").first.is_visible()
        assert page.get_by_role("button", name="Refresh data now").is_enabled()
        page.screenshot(path=str(shots / "refresh_finished.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
        print(f"the page when it failed: {tmp_path / 'failed.png'}")
        raise
    finally:
        page.close()
