"""The Webhooks inbox shows refresh events with their entity's bank and finds them by it."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from console.book import BookIndexer
from console.store import EventStore
from tests.test_webhooks_screen import db, screen, seed_events  # noqa: F401


def test_refresh_events_carry_and_filter_by_their_entitys_bank(
    screen: AppTest,  # noqa: F811
    db: EventStore,  # noqa: F811
) -> None:
    seed_events(db)
    BookIndexer(db, settle_seconds=0).apply_pending()  # the entity and its bank enter the index
    screen.run()
    banks = dict(
        zip(screen.dataframe[0].value["event_id"], screen.dataframe[0].value["Bank"], strict=True)
    )
    # By name where the book index has heard it (the entity event named the bank).
    assert banks == {
        "ev-payment": "",
        "ev-finished": "Al Rajhi Bank",
        "ev-pending": "Al Rajhi Bank",
        "ev-created": "Al Rajhi Bank",
    }
    screen.selectbox(key="wh_bank").set_value("RJHI_SAMAOB_SAU").run()
    assert set(screen.dataframe[0].value["event_id"]) == {"ev-created", "ev-pending", "ev-finished"}
