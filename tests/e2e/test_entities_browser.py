"""An operator opens a customer, then one of their banks from its row, in a real browser."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from sandbox import seed

pytestmark = pytest.mark.e2e
# Where screenshots go when asked for (SCREENSHOT_DIR=/tmp/shots); otherwise the test's tmp dir.
SHOTS = os.environ.get("SCREENSHOT_DIR")


def seeded_customer_with_entities() -> tuple[seed.SeedCustomer, list[seed.SeedEntity]]:
    data = seed.generate()  # the same seed the embedded sandbox uses
    for customer_id, entities in sorted(data.entities_by_customer.items()):
        if len(entities) >= 2:
            newest_first = sorted(entities, key=lambda e: e.created_at, reverse=True)
            return data.customers[customer_id], newest_first
    raise AssertionError("no seeded customer with entities")


def test_bank_row_opens_the_entity(console_url: str, browser: Any, tmp_path: Path) -> None:
    customer, entities = seeded_customer_with_entities()
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(f"{console_url}/customers?customer_id={customer.customer_id}")
    page.get_by_text("Select a bank row to open that bank connection.").wait_for(timeout=30_000)
    page.get_by_text("Link for a ticket").wait_for(timeout=10_000)
    page.get_by_test_id("stMetric").filter(has_text="Need attention").wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # the grid is drawn on a canvas after its element appears
    assert (
        f"{console_url}/customers?customer_id={customer.customer_id}"
        in page.get_by_text("Link for a ticket").inner_text()
    )
    page.screenshot(path=str(shots / "customer.png"), full_page=True)

    # The bank rows are drawn on a canvas: click the first row's selection cell.
    grid = page.get_by_test_id("stDataFrame").first
    grid.wait_for(timeout=10_000)
    box = grid.bounding_box()
    assert box is not None
    header, row = 36, 35
    page.mouse.click(box["x"] + 18, box["y"] + header + row / 2)

    page.get_by_role("heading", name="Bank connection").wait_for(timeout=30_000)
    page.get_by_text("Accounts each consent covers").wait_for(timeout=30_000)
    # The first row is one of this customer's connections: a seeded one (ties in connection
    # time may order them either way), or one the sandbox's live feed made since it started
    # (a CI run caught that); the page shows that very connection.
    opened_id = parse_qs(urlparse(page.url).query)["entity_id"][0]
    assert f"customer_id={customer.customer_id}" in page.url
    assert page.get_by_text(opened_id).first.is_visible()
    opened = next((e for e in entities if e.entity_id == opened_id), None)
    if opened is not None:
        assert page.get_by_text(opened.bank.name).first.is_visible()
    page.screenshot(path=str(shots / "entity.png"), full_page=True)
    page.close()
