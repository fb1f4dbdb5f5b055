"""An operator opens a pasted ticket link in a real browser and reads the customer."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from sandbox import seed
from tests.e2e.conftest import click_when_settled

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


def test_each_search_is_looked_up_as_typed_after_the_last_changed_the_link(
    console_url: str, browser: Any, tmp_path: Any
) -> None:
    """The boxes follow a link that names a customer; the URL a search itself writes filled them
    again on the next run, so the next search typed was replaced by the last one (and the kind
    chosen by the URL's). AppTest keeps the typed values: only a browser shows it."""
    data = seed.generate()
    first, second, third = list(data.customers.values())[:3]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{console_url}/customers")
    main = page.get_by_test_id("stMain")
    box = main.get_by_role("textbox", name="Identifier")
    box.wait_for(timeout=30_000)
    find_by = main.get_by_role("combobox", name="Find by")

    def find(text: str, heading: str) -> None:
        box.fill(text)
        click_when_settled(page, main.get_by_role("button", name="Find", exact=True))
        main.get_by_role("heading", name=heading).wait_for(timeout=30_000)

    find(first.app_user_id, first.app_user_id)
    assert f"app_user_id={first.app_user_id}" in page.url
    find(second.app_user_id, second.app_user_id)
    assert f"app_user_id={second.app_user_id}" in page.url
    expect(find_by).to_have_value("customer_id or app_user_id", timeout=15_000)
    find(third.customer_id, third.app_user_id)
    assert f"customer_id={third.customer_id}" in page.url
    # A link that names a customer fills the boxes, and the guess stays chosen.
    page.goto(f"{console_url}/customers?customer_id={first.customer_id}")
    main.get_by_role("heading", name=first.app_user_id).wait_for(timeout=30_000)
    expect(box).to_have_value(first.customer_id, timeout=15_000)
    expect(find_by).to_have_value("customer_id or app_user_id", timeout=15_000)
    find(second.app_user_id, second.app_user_id)
    assert f"app_user_id={second.app_user_id}" in page.url
    page.close()
