"""Accounts & data keeps the customer in its links, links to the connection's webhooks, and warns
above "Refresh data now" when the book index says the consent is no longer active."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from streamlit.testing.v1 import AppTest

from console.book_queries import consent_status_of
from console.formatting import literal_md
from console.store import EventStore, index_entities
from sandbox.server import SandboxServer
from tests.test_account_data_screen import entities, open_data, screen, texts  # noqa: F401


def index_entity(
    store: EventStore, entity_id: str, customer_id: str, status: str, expires: datetime
) -> None:
    with store.connect(write=True) as conn:
        conn.execute(
            index_entities.insert().values(
                entity_id=entity_id,
                customer_id=customer_id,
                consent_status=status,
                consent_expires_at=expires,
                last_seen_at=datetime.now(UTC),
            )
        )


def test_links_keep_the_customer_and_reach_the_webhooks(
    screen: AppTest,  # noqa: F811
    sandbox: SandboxServer,
) -> None:
    entity = entities(sandbox)[0]
    screen.query_params["customer_id"] = entity.customer_id
    at = open_data(screen, entity.entity_id)
    assert not at.exception
    links = {(link.proto.page, link.proto.query_string) for link in at.get("page_link")}
    both = f"entity_id={entity.entity_id}&customer_id={entity.customer_id}"
    assert any(page.endswith("refreshes") and query == both for page, query in links)
    assert any(page.endswith("entities") and query == both for page, query in links)
    assert any(
        page.endswith("webhooks") and query == f"entity_id={entity.entity_id}"
        for page, query in links
    )
    assert "Lean will refuse a refresh" not in texts(at)  # the index has not seen it: no guess


def test_an_expired_consent_is_said_above_the_refresh_button(
    screen: AppTest,  # noqa: F811
    sandbox: SandboxServer,
) -> None:
    entity = entities(sandbox)[1]
    store = EventStore(os.environ["DATABASE_URL"])  # the screen's database
    # Written ACTIVE but past its expiry: the index reads it EXPIRED.
    index_entity(
        store, entity.entity_id, entity.customer_id, "ACTIVE", datetime.now(UTC) - timedelta(days=1)
    )
    assert consent_status_of(store, entity.entity_id) == "EXPIRED"
    at = open_data(screen, entity.entity_id)
    assert not at.exception
    assert (
        f"The consent is {literal_md('EXPIRED')}: Lean will refuse a refresh until the customer "
        "reconnects." in texts(at)
    )
    # The button stays: Lean's answer is the truth.
    assert at.button(key=f"lean_refresh::{entity.entity_id}:ask")
