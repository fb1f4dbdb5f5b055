"""The sidebar search in a real browser: an identifier from a ticket lands on its screen."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox import seed

pytestmark = pytest.mark.e2e
SHOTS = os.environ.get("SCREENSHOT_DIR")


def search(page: Any, text: str) -> None:
    # Several meanings are listed in a dialog over the screen; it is closed like any dialog.
    dialog = page.get_by_role("dialog")
    if dialog.count():
        page.keyboard.press("Escape")
        dialog.wait_for(state="detached", timeout=10_000)
    sidebar = page.get_by_test_id("stSidebar")
    box = sidebar.get_by_role("textbox", name="Find anything")
    box.fill(text)
    sidebar.get_by_role("button", name="Find", exact=True).click()


def test_an_entity_id_lands_on_its_bank_connection(
    console_url: str, browser: Any, tmp_path: Path
) -> None:
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    entity = next(iter(seed.generate().entities.values()))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(console_url)
    page.get_by_test_id("stSidebar").get_by_role("textbox", name="Find anything").wait_for(
        timeout=30_000
    )
    # The book index learns the seeded connections from the embedded sandbox at start-up;
    # until then the search offers the lookups Lean can answer instead.
    deadline = time.monotonic() + 90
    while True:
        search(page, entity.entity_id)
        try:
            page.get_by_role("heading", name="Bank connection").wait_for(timeout=8_000)
            break
        except Exception:
            if time.monotonic() > deadline:
                page.screenshot(path=str(shots / "search-failed.png"), full_page=True)
                raise
    assert f"entity_id={entity.entity_id}" in page.url
    assert f"customer_id={entity.customer_id}" in page.url
    page.screenshot(path=str(shots / "search-entity.png"), full_page=True)

    search(page, "11111111-2222-4333-8444-555555555555")
    page.get_by_text("Ask Lean for it as").wait_for(timeout=15_000)
    # The meanings open over the screen, within a laptop's window, not below the sidebar's fold.
    page.set_viewport_size({"width": 1280, "height": 800})
    box = page.get_by_role("dialog").bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + 100 < 800
    page.screenshot(path=str(shots / "search-meanings.png"))
    search(page, "SA0380000000608010167518")
    refused = page.get_by_role("dialog").get_by_text("looks like an IBAN but its check digits")
    refused.wait_for(timeout=15_000)
    box = refused.bounding_box()
    assert box is not None and box["y"] + box["height"] < 800  # in sight, not below the sidebar
    page.screenshot(path=str(shots / "search-bad-iban.png"), full_page=True)
