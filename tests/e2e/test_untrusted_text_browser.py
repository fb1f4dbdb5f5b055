"""A signed webhook full of Markdown, HTML and links reaches a real browser as plain text."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from console.runtime import embedded_webhook_secret
from console.store import EventStore
from lean_api.webhooks import SIGNATURE_HEADER, generate_signature_header

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots")
EVENT_ID = "evil-event [x](http://evil.example/e)"
HOSTILE = {
    "type": "evil.type [t](http://evil.example/t) ![i](http://evil.example/t.png)",
    "status": "<img src=http://evil.example/s.png onerror=window.__pwned=1>",
    "customer_id": "<a href='http://evil.example/c'>customer</a>",
    "entity_id": "https://evil.example/entity",
    "app_user_id": "www.evil.example mallory@evil.example <https://evil.example/u>",
    "refresh_id": "``` :red[refresh] :material/home: :smile: $x^2$",
    "bank": "# bank **bold**\n> quoted [b](http://evil.example/b)",
}
# Every link on the page, as the browser resolved it, and every image source.
LINKS = "els => els.map(e => e.href)"
IMAGES = "els => els.map(e => e.currentSrc || e.src)"


def post_signed(console_url: str, body: bytes, **headers: str) -> requests.Response:
    """Post `body` signed as the embedded sandbox signs (the console verifies with the same secret)."""
    headers[SIGNATURE_HEADER] = generate_signature_header(body, embedded_webhook_secret())
    return requests.post(f"{console_url}/webhooks/lean", data=body, headers=headers, timeout=10)


def hostile_event() -> bytes:
    return json.dumps(
        {
            "type": HOSTILE["type"],
            "message": "[message](http://evil.example/m)",
            "event_id": EVENT_ID,
            "timestamp": "2026-11-01T10:00:00.123456789Z",
            "payload": {
                "status": HOSTILE["status"],
                "customer_id": HOSTILE["customer_id"],
                "entity_id": HOSTILE["entity_id"],
                "app_user_id": HOSTILE["app_user_id"],
                "refresh_id": HOSTILE["refresh_id"],
                "bank_details": {"identifier": HOSTILE["bank"], "name": "[n](http://evil.example)"},
            },
        }
    ).encode()


def assert_nothing_leaves_the_console(page: Any, console_url: str) -> None:
    """No link or image points outside the console, and no injected handler ran.

    The console's own page links may carry hostile text in their query string (percent-encoded):
    they still open the console's own screens, which show it literally.
    """
    origin = urlsplit(console_url)
    hrefs = page.eval_on_selector_all("a[href]", LINKS)
    assert hrefs, "the page has no links at all: the navigation did not render"
    for href in hrefs:
        target = urlsplit(href)
        assert (target.scheme, target.netloc) == (origin.scheme, origin.netloc), href
    for src in page.eval_on_selector_all("img", IMAGES):
        assert src.startswith("data:") or urlsplit(src).netloc == origin.netloc, src
    assert page.evaluate("window.__pwned") is None


def code_texts(page: Any) -> str:
    """What the operator reads in inline code, word joiners removed."""
    texts = page.eval_on_selector_all("code", "els => els.map(e => e.textContent)")
    return "\n".join(texts).replace("\u2060", "")


def test_hostile_webhook_is_plain_text_in_the_browser(
    console_url: str, console_db: str, browser: Any
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert post_signed(console_url, hostile_event()).status_code == 200
    # A signed body that is not JSON becomes a dead letter; its body is shown as code.
    unreadable = b"{not json [d](http://evil.example/d) <img src=http://evil.example/d.png>"
    assert post_signed(console_url, unreadable).status_code in (200, 202, 400, 422)
    store = EventStore(console_db)
    deadline = time.monotonic() + 30
    while store.get_event(EVENT_ID) is None:
        assert time.monotonic() < deadline, "the hostile event was not stored"
        time.sleep(0.3)
    stored = store.get_event(EVENT_ID)
    assert stored is not None and stored.app_user_id == HOSTILE["app_user_id"]

    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    try:
        # The event in full: type, status, source, links to its customer, entity, refresh, bank.
        page.goto(f"{console_url}/webhooks?event_id={quote(EVENT_ID)}")
        page.get_by_text("Signature verified").wait_for(timeout=30_000)
        page.get_by_test_id("stPageLink").first.wait_for(timeout=10_000)
        time.sleep(1)  # let every element finish rendering
        page.screenshot(path=str(SHOTS / "hostile-event.png"), full_page=True)
        assert_nothing_leaves_the_console(page, console_url)
        shown = code_texts(page)
        for value in (HOSTILE["type"], HOSTILE["status"], HOSTILE["app_user_id"], EVENT_ID):
            assert value in shown, value
        assert HOSTILE["bank"].replace("\n", "↵") in shown
        assert HOSTILE["refresh_id"][:8] in shown
        assert page.get_by_text(HOSTILE["status"]).first.is_visible()
        links = page.get_by_test_id("stPageLink").all()
        # Customer, bank connection, Data refreshes, and events of the entity, refresh and bank.
        assert len(links) == 6

        # A hostile refresh_id in the URL is refused by name (shown as code, never applied),
        # and the dead letters list the unreadable body's delivery as text.
        page.goto(f"{console_url}/webhooks?refresh_id={quote(HOSTILE['refresh_id'])}")
        page.get_by_text("This link has values the inbox refuses").wait_for(timeout=30_000)
        page.get_by_test_id("stDataFrame").first.wait_for(timeout=30_000)
        page.screenshot(path=str(SHOTS / "hostile-inbox.png"), full_page=True)
        assert HOSTILE["refresh_id"] in code_texts(page)
        page.get_by_role("tab", name="Dead letters").click()
        page.locator("[data-testid^='glide-cell']").first.wait_for(state="attached", timeout=30_000)
        time.sleep(1)
        page.screenshot(path=str(SHOTS / "hostile-dead-letter.png"), full_page=True)
        assert_nothing_leaves_the_console(page, console_url)
    finally:
        page.close()
