"""An operator opens a pasted ticket link in a real browser and reads the customer."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import seed

pytestmark = pytest.mark.e2e


def seeded_customer_with_entities() -> tuple[seed.SeedCustomer, int]:
    data = seed.generate()  # the same seed the embedded sandbox uses
    for customer_id, entities in data.entities_by_customer.items():
        if len(entities) >= 2:
            return data.customers[customer_id], len(entities)
    raise AssertionError("no seeded customer with entities")


def test_overview_health_panel_has_the_details_healthz_keeps_private(
    console_url: str, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(console_url)
    page.get_by_text("System health: all checks pass").wait_for(timeout=30_000)
    page.get_by_text("System health: all checks pass").click()
    page.get_by_text("Webhooks: signatures verified").wait_for(timeout=10_000)
    page.close()


def test_deep_link_shows_a_seeded_customer(console_url: str, browser: Any, tmp_path: Any) -> None:
    customer, entity_count = seeded_customer_with_entities()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{console_url}/customers?customer_id={customer.customer_id}")
    page.get_by_text("Connected banks").wait_for(timeout=30_000)
    assert page.get_by_role("heading", name=customer.app_user_id).is_visible()
    assert page.get_by_text("Embedded sandbox").first.is_visible()
    metric = page.get_by_test_id("stMetric").filter(has_text="Connected banks")
    assert metric.get_by_test_id("stMetricValue").inner_text().strip() == str(entity_count)
    # The navigation, not a legacy page list, is what the operator sees.
    assert page.get_by_role("link", name="Customers").is_visible()
    page.screenshot(path=str(tmp_path / "customer.png"), full_page=True)
    page.close()
