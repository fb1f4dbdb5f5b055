"""The Banks screen in Chromium: the availability timeline is really drawn (plotly.js, not AppTest)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from console.store import EventFilter, EventStore

pytestmark = pytest.mark.e2e


def test_bank_timeline_draws_its_bars(console_url: str, console_db: str, browser: Any) -> None:
    store = EventStore(console_db)
    deadline = time.monotonic() + 60
    while store.count_events(EventFilter(types=("bank.availability.updated",))) < 20:
        assert time.monotonic() < deadline, "no bank history arrived"
        time.sleep(0.5)
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    try:
        page.goto(f"{console_url}/banks?bank=RJHI_SAMAOB_SAU")
        page.get_by_text("Availability over 30 days").wait_for(timeout=30_000)
        # Bars with a width: the lanes are really drawn, not only sent.
        page.locator(".js-plotly-plot .bars path").first.wait_for(timeout=30_000)
        widths = page.locator(".js-plotly-plot .bars path").evaluate_all(
            "paths => paths.map(p => p.getBoundingClientRect().width)"
        )
        assert sum(widths) > 300
        assert page.get_by_text("Available", exact=True).first.is_visible()
    finally:
        page.close()
