"""The fleet view (`/refreshes` with no entity) in AppTest, over a real SQLite store filled with
refresh webhooks and indexed by the book indexer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from console.book import BookIndexer
from console.store import EventStore
from tests.console.test_book import entity_event
from tests.console.test_refresh_index import refresh_event

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SCREEN = "pages/refreshes.py"  # the page the shared `screen` fixture (tests/conftest.py) opens
SNB_ENTITY = "00000000-0000-4000-8000-00000000f001"
LOST_ENTITY = "00000000-0000-4000-8000-00000000f002"


def fill(store: EventStore) -> None:
    """Three days of refreshes at SNB, one account's transactions partial every time, and one
    refresh of an entity the book index does not know."""
    now = datetime.now(UTC).replace(microsecond=0)
    events = [entity_event("snb", "entity.created", now - timedelta(days=9), entity_id=SNB_ENTITY, bank="SNB")]  # fmt: skip
    for n in range(3):
        at = now - timedelta(days=n + 1)
        rid = f"00000000-0000-4000-8000-0000000000{n:02d}"
        events += [
            refresh_event(f"p{n}", at - timedelta(minutes=10 * (n + 1)), "PENDING", refresh_id=rid, entity_id=SNB_ENTITY),
            refresh_event(
                f"f{n}", at, "FINISHED",
                {"acc-x": {"balance": "FAILED" if n == 0 else "OK", "transactions": "PARTIAL"}},
                refresh_id=rid, entity_id=SNB_ENTITY,
            ),
        ]  # fmt: skip
    events.append(
        refresh_event("lost", now - timedelta(hours=3), refresh_id="lost-refresh", entity_id=LOST_ENTITY)
    )  # fmt: skip
    store.write_events(events)
    BookIndexer(store, settle_seconds=0).apply_pending()


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def test_fleet_view_shows_rates_slowest_and_repeatedly_partial(
    db: EventStore, screen: AppTest
) -> None:
    fill(db)
    at = screen.run()
    assert not at.exception
    assert "4 refreshes finished in the last 7 days; 1 of them (25%) have no known bank" in texts(
        at.markdown
    )
    # Bank × data type first: SNB by its name from the book index, its identifier in the hover.
    by_type = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert by_type["y"] == ["Al Rajhi Bank", "Bank not known"]
    assert by_type["x"][:2] == ["any", "balance"]
    assert by_type["text"][0][:2] == ["33%<br>1 of 3", "33%<br>1 of 3"]
    assert by_type["customdata"][0][0].startswith("Al Rajhi Bank · SNB")
    heatmap = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]
    assert heatmap["y"] == ["Al Rajhi Bank", "Bank not known"]
    assert "100%<br>1 of 1" in json.dumps(heatmap["text"])  # the day balance failed

    slowest, partial = at.dataframe[0].value, at.dataframe[1].value
    assert list(slowest["Took"])[:3] == ["30 min", "20 min", "10 min"]
    assert list(slowest["Outcome"])[:3] == ["Data partial · FINISHED", "Data partial · FINISHED", "Data failed · FINISHED"]  # fmt: skip
    assert slowest["Refresh"][0] == (
        f"/refreshes?entity_id={SNB_ENTITY}&refresh_id=00000000-0000-4000-8000-000000000002"
    )
    assert list(partial["Account"]) == ["acc-x"]
    assert list(partial["Transactions"]) == ["Partial in 3 of the last 3 refreshes"]
    assert list(partial["Bank"]) == ["SNB"]

    at.selectbox(key="fleet_data_type").set_value("transactions").run()
    at.selectbox(key="fleet_measure").set_value("partial").run()
    heatmap = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]
    assert heatmap["y"] == ["Al Rajhi Bank"]  # the unknown entity's refresh had no transactions
    assert json.dumps(heatmap["text"]).count("100%<br>1 of 1") == 3
    at.radio(key="fleet_window").set_value("Last 30 days").run()
    assert not at.exception
    assert "in the last 30 days" in texts(at.markdown)
    # Every choice is in the link, so the view can be pasted into a ticket.
    link = (at.query_params["days"], at.query_params["data_type"], at.query_params["outcome"])
    assert link == ("30", "transactions", "partial")
    # A month of days: the rate alone in each cell, the counts in the hover.
    month = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]
    assert month["text"][0].count("100") == 3 and "<br>" not in json.dumps(month["text"])


def test_a_pasted_link_opens_the_same_view_and_bad_values_are_said(
    db: EventStore, screen: AppTest
) -> None:
    fill(db)
    screen.query_params["days"] = "30"
    screen.query_params["data_type"] = "transactions"
    screen.query_params["outcome"] = "partial"
    at = screen.run()
    assert not at.exception and not at.warning
    assert at.radio(key="fleet_window").value == "Last 30 days"
    assert at.selectbox(key="fleet_data_type").value == "transactions"
    assert at.selectbox(key="fleet_measure").value == "partial"
    assert "in the last 30 days" in texts(at.markdown)

    at.query_params["days"] = "90"
    at.query_params["outcome"] = "<b>worst</b>"
    at.run()
    assert not at.exception
    assert at.radio(key="fleet_window").value == "Last 7 days"
    assert at.selectbox(key="fleet_measure").value == "failed"
    assert at.selectbox(key="fleet_data_type").value == "transactions"
    warnings = texts(at.warning)
    assert (
        "The link's days ` 90 ` is not one this view offers (days: 7, 30); showing last 7 days."
    ) in warnings
    assert "outcome ` <b>worst</b> ` is not one" in warnings  # shown literally
    assert "showing failure rate" in warnings

    at.query_params["days"] = "9" * 5000  # a link's value is echoed cut, never whole
    at.run()
    assert not at.exception
    (note,) = [w.value for w in at.warning if "The link's days" in w.value]
    assert len(note) < 200 and f"{'9' * 59}…" in note


def test_fleet_view_with_nothing_indexed_says_so(screen: AppTest) -> None:
    at = screen.run()
    assert not at.exception
    assert "No refresh finished in the last 7 days." in texts(at.markdown)
    assert "book indexer" in texts(at.info)
    assert not at.get("plotly_chart")
