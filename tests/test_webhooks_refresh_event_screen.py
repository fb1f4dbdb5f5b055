"""One refresh event in full: its bank from the book index, links to the Data refreshes screen
and the bank connection, and its status never reading as a success when data failed."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from console.book import BookIndexer
from console.formatting import literal_md
from console.store import EventStore
from tests.test_webhooks_screen import db, screen, seed_events, texts  # noqa: F401


def test_a_refresh_event_names_its_bank_and_links_to_its_screens(
    screen: AppTest,  # noqa: F811
    db: EventStore,  # noqa: F811
) -> None:
    seed_events(db)
    BookIndexer(db, settle_seconds=0).apply_pending()
    screen.query_params["event_id"] = "ev-finished"
    screen.run()
    assert not screen.exception
    markdown = texts(screen.markdown)
    bank = f"**Bank** {literal_md('RJHI_SAMAOB_SAU')} · {literal_md('Al Rajhi Bank')}"
    assert bank in markdown
    links = {(link.proto.page, link.proto.query_string) for link in screen.get("page_link")}
    pages = {page.rsplit("/", 1)[-1] for page, _ in links}
    assert {"refreshes", "entities", "webhooks", "customers"} <= pages
    assert any(
        page.endswith("refreshes") and query == "entity_id=ent-1&customer_id=cust-1&refresh_id=r-1"
        for page, query in links
    )
    assert any(
        page.endswith("entities") and query == "entity_id=ent-1&customer_id=cust-1"
        for page, query in links
    )
    assert any(
        page.endswith("webhooks") and query == "bank=RJHI_SAMAOB_SAU" for page, query in links
    )


def test_a_refresh_event_before_the_index_knows_its_entity_says_so(
    screen: AppTest,  # noqa: F811
    db: EventStore,  # noqa: F811
) -> None:
    seed_events(db)  # not indexed
    screen.query_params["event_id"] = "ev-finished"
    screen.run()
    assert not screen.exception
    assert "**Bank** not known yet" in texts(screen.markdown)
