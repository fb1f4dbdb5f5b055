"""A filtered inbox link pasted into a ticket opens, in Chromium, to the same rows for whoever
follows it: the filters are in the URL and `asof` pins the rows while events keep arriving."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from console.events import InboxView, inbox_page
from console.store import EventFilter, EventStore

pytestmark = pytest.mark.e2e
SHOTS = os.environ.get("SCREENSHOT_DIR")
REFRESH = "entity.data.refresh.updated"


def busiest_entity(store: EventStore) -> str:
    """An entity with several refresh events (the sandbox back-fills weeks of them)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        counts: dict[str, int] = {}
        for item in store.query_events(EventFilter(types=(REFRESH,)), limit=2000):
            if item.entity_id:
                counts[item.entity_id] = counts.get(item.entity_id, 0) + 1
        if counts and max(counts.values()) >= 3:
            return max(counts, key=lambda entity: counts[entity])
        time.sleep(1)
    raise AssertionError("no entity with three refresh events in time")


def test_a_pasted_filtered_url_shows_the_filtered_rows(
    console_url: str, console_db: str, browser: Any, tmp_path: Path
) -> None:
    store = EventStore(console_db)
    entity_id = busiest_entity(store)
    pinned = inbox_page(store, InboxView(types=(REFRESH,), entity_id=entity_id, range="all"))
    shown, total = len(pinned.items), pinned.total
    link = (
        f"{console_url}/webhooks?type={REFRESH}&entity_id={entity_id}&range=all&asof={pinned.asof}"
    )
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(link)
        page.get_by_text(re.compile(rf"1–{shown} of {total} ·")).wait_for(timeout=60_000)
        # The filters are filled from the link, and the rows are that entity's refreshes only.
        # (The inputs are filled in the same run as the rows; the browser may paint them a moment
        # later on a busy machine.)
        expect(page.get_by_label("entity_id")).to_have_value(entity_id, timeout=15_000)
        assert page.locator(".st-key-wh_range input").first.input_value() == "All time"
        cells = page.locator("[data-testid^='glide-cell']")
        cells.filter(has_text="Data refresh").first.wait_for(state="attached", timeout=30_000)
        assert cells.filter(has_text="Bank connected").count() == 0
        assert cells.filter(has_text="Bank availability").count() == 0
        # Times say their zone.
        assert page.get_by_text("Occurred (UTC)").count() >= 1
        page.screenshot(path=str(shots / "inbox_pasted_link.png"), full_page=True)

        # From one event, "Events of refresh" opens the inbox filtered, and the address bar says so.
        refresh_id = pinned.items[0].refresh_id
        page.goto(f"{console_url}/webhooks?event_id={pinned.items[0].event_id}")
        page.get_by_text("Events of refresh").click()
        page.get_by_text(re.compile(r"1–\d+ of \d+ ·")).wait_for(timeout=60_000)
        page.wait_for_function(
            "id => window.location.search.includes('refresh_id=' + id)", arg=refresh_id
        )
        assert "event_id" not in page.evaluate("window.location.search")
        assert page.get_by_label("refresh_id").input_value() == refresh_id
    finally:
        page.close()


def test_back_from_an_event_keeps_the_filters_in_their_inputs(
    console_url: str, console_db: str, browser: Any
) -> None:
    """The event's screen draws no filter inputs, and Streamlit forgets what an input held when
    a run does not draw it: back in the inbox the inputs came back empty while the rows stayed
    filtered, and the next filter changed dropped the others from the view and its link."""
    entity_id = busiest_entity(EventStore(console_db))
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(f"{console_url}/webhooks?entity_id={entity_id}&q=refresh&range=all")
        position = re.compile(r"1–\d+ of \d+ ·")
        page.get_by_text(position).wait_for(timeout=60_000)
        expect(page.get_by_label("entity_id")).to_have_value(entity_id, timeout=15_000)
        table = page.locator("[data-testid='stDataFrame']").first.bounding_box()
        assert table is not None
        page.mouse.click(table["x"] + 16, table["y"] + 53)  # the first row's selection cell
        page.get_by_role("button", name=re.compile("Back to the inbox")).click()
        page.get_by_text(position).wait_for(timeout=60_000)
        expect(page.get_by_label("entity_id")).to_have_value(entity_id, timeout=15_000)
        expect(page.get_by_role("textbox", name="Search")).to_have_value("refresh")

        page.locator(".st-key-wh_verified").click()
        page.get_by_role("option", name="Verified only", exact=True).click()
        page.wait_for_function("() => window.location.search.includes('verified=yes')")
        search = page.evaluate("window.location.search")
        assert f"entity_id={entity_id}" in search and "q=refresh" in search, search
        assert "range=all" in search, search
    finally:
        page.close()
