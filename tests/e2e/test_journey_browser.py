"""The connection journey in a real browser, against the console as `make run` starts it: create a
customer → mint its token → Link with a chosen bank and permissions → entity.created arrives →
verify ownership with the customer's national ID → see the data → triage the new customer.

Each step is photographed into the test's tmp dir and copied to /tmp/journey_shots/ (or
$JOURNEY_SHOTS) for people to look at."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from sandbox import seed

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
LOOK_HERE = Path(os.environ.get("JOURNEY_SHOTS", "/tmp/journey_shots"))
# The embedded sandbox delivers a 30-day back-fill first; the journey's webhooks queue behind it.
WEBHOOK_WAIT_MS = 180_000
# Reruns take seconds on a busy machine: every expectation waits up to a minute.
expect.set_options(timeout=60_000)


def national_id_for(app_user_id: str) -> str:
    """The national ID the sandbox gives the person behind a customer it created at run time
    (drawn from the app_user_id, as the sandbox's customer route draws it)."""
    return seed._person(seed.stable_rng("person", app_user_id), 1).national_id


class Shots:
    """Screenshots of each step, kept with the test and copied where people look."""

    def __init__(self, page: Any, where: Path) -> None:
        self.page = page
        self.where = where
        self.count = 0
        LOOK_HERE.mkdir(parents=True, exist_ok=True)

    def take(self, name: str) -> None:
        self.count += 1
        path = self.where / f"{self.count:02d}_{name}.png"
        self.page.wait_for_timeout(600)  # let the last rerun paint
        self.page.screenshot(path=str(path), full_page=True)
        shutil.copy(path, LOOK_HERE / path.name)


def expect_state(page: Any, number: int, word: str) -> None:
    """Wait until the overview table says `word` for step `number` (it is written last in a run,
    so it follows the step's own words by a moment)."""
    row = page.locator("table tr", has_text=re.compile(rf"^\s*{number}\. ")).first
    expect(row.locator("td").nth(1)).to_have_text(word, timeout=60_000)


@pytest.mark.timeout(480)  # the back-fill's webhooks go first; the journey's queue behind
def test_the_connection_journey_end_to_end(console_url: str, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    shots = Shots(page, tmp_path)
    try:
        page.goto(f"{console_url}/connect")
        page.get_by_role("heading", name="Connect a bank").wait_for(timeout=60_000)
        page.get_by_role("button", name="Create customer").wait_for(timeout=60_000)
        suggested = page.get_by_role("textbox", name="app_user_id")
        expect(suggested).to_have_value(
            re.compile(r"^sandbox_journey_[0-9a-f]{8}$"), timeout=60_000
        )
        app_user_id = suggested.input_value()
        shots.take("start")

        # 1. Create the customer: its id goes into the address.
        page.get_by_role("button", name="Create customer").click()
        page.get_by_role("button", name="Mint a customer token").wait_for(timeout=60_000)
        customer_id = re.search(r"customer_id=([0-9a-f-]{36})", page.url).group(1)  # type: ignore[union-attr]
        expect(page.get_by_text(app_user_id).first).to_be_visible()
        shots.take("customer_created")

        # 2. Mint the customer-scoped token: its expiry is shown, never the token.
        page.get_by_role("button", name="Mint a customer token").click()
        page.get_by_role("button", name="Run Link").wait_for(timeout=60_000)
        expect(page.get_by_text("never shown").first).to_be_visible()
        expect(page.get_by_text(re.compile(r"\d+ min left")).first).to_be_visible()
        assert "eyJ" not in page.content()  # no JWT anywhere on the page
        shots.take("token_minted")

        # 3. Link: an available bank, two permissions, the customer connects.
        bank_box = page.get_by_label(re.compile(r"^Bank \(\d+ available now\)"))
        bank_box.click()
        option = page.get_by_role("option").first
        option.click()
        for word in ("balance", "transactions"):
            # Remove two of the four defaults: the customer grants identity and accounts only.
            page.get_by_role("button", name=f"Remove {word}").click()
        page.keyboard.press("Escape")  # close the permissions list so the next click lands
        expect(page.get_by_role("button", name="Remove transactions")).to_have_count(0)
        expect(page.get_by_role("button", name="Remove identity")).to_have_count(1)
        shots.take("link_chosen")
        page.get_by_role("button", name="Run Link").click()

        # 4. entity.created arrives (the screen follows the store live) and the refresh finishes.
        page.wait_for_url(re.compile(r"entity_id=[0-9a-f-]{36}"), timeout=60_000)
        entity_id = re.search(r"entity_id=([0-9a-f-]{36})", page.url).group(1)  # type: ignore[union-attr]
        page.get_by_text("Link succeeded").first.wait_for(timeout=60_000)
        shots.take("link_succeeded")
        page.get_by_text("entity.created arrived").first.wait_for(timeout=WEBHOOK_WAIT_MS)
        page.get_by_text(
            "entity.created arrived and the first data refresh finished."
        ).first.wait_for(timeout=WEBHOOK_WAIT_MS)
        expect(
            page.get_by_role("link", name=re.compile(r"^entity\.created ")).first
        ).to_be_visible()
        expect_state(page, 4, "Done")
        shots.take("webhooks_arrived")

        # 5. Verify ownership with the national ID the bank holds for this customer.
        page.get_by_label("Customer's national ID or iqama number", exact=True).and_(
            page.locator("input")
        ).fill(national_id_for(app_user_id))
        page.get_by_role("button", name="Verify ownership").click()
        page.get_by_text(re.compile(r"^Verified — ")).first.wait_for(timeout=60_000)
        expect_state(page, 5, "Done")
        assert national_id_for(app_user_id) not in page.content()
        shots.take("ownership_verified")

        # 6. See the data: the link opens the connection's accounts.
        for number in range(1, 7):
            expect_state(page, number, "Done")
        page.get_by_role("link", name="Accounts & data").last.click()
        page.wait_for_url(re.compile(rf"/data\?entity_id={entity_id}"), timeout=60_000)
        page.get_by_role("heading", name="Accounts & data").wait_for(timeout=60_000)
        page.get_by_role("heading", name="Balances").wait_for(timeout=60_000)
        page.get_by_role("heading", name="Transactions").wait_for(timeout=60_000)
        shots.take("the_data")

        # Then a triage of the new customer names them.
        if (ROOT / "pages" / "triage.py").exists():
            page.goto(f"{console_url}/triage?q={customer_id}")
            page.get_by_role("heading", name="Triage").wait_for(timeout=60_000)
            page.get_by_text(customer_id).first.wait_for(timeout=60_000)
            shots.take("triage_of_the_new_customer")
    except Exception:
        shots.take("failed_here")
        raise
    finally:
        page.close()
    assert shots.count >= 9


def test_a_cancelled_link_says_nothing_was_created(
    console_url: str, browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 2000})
    shots = Shots(page, tmp_path)
    try:
        page.goto(f"{console_url}/connect")
        page.get_by_role("button", name="Create customer").click()
        page.get_by_role("button", name="Mint a customer token").click()
        page.get_by_role("button", name="Run Link").wait_for(timeout=60_000)
        page.get_by_text("CANCELLED — the customer closes Link").click()
        page.get_by_role("button", name="Run Link").click()
        page.get_by_text("Link was cancelled").first.wait_for(timeout=60_000)
        expect(page.get_by_text("Nothing was created.").first).to_be_visible()
        assert "entity_id=" not in page.url
        expect_state(page, 3, "Failed")
        shots.take("link_cancelled")
    except Exception:
        shots.take("cancel_failed_here")
        raise
    finally:
        page.close()
