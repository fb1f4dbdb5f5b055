"""The Webhooks screen in AppTest, over a real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console.store import EventRecord, EventStore
from sandbox.server import SandboxServer

APP = str(Path(__file__).resolve().parents[1] / "app.py")
NOW = datetime.now(UTC)


def record(event_id: str, type_: str, minutes_ago: int, **payload: object) -> EventRecord:
    body = json.dumps({"type": type_, "message": "m", "payload": payload, "event_id": event_id})
    return EventRecord(
        event_id=event_id,
        type=type_,
        message="m",
        lean_timestamp=NOW - timedelta(minutes=minutes_ago),
        received_at=NOW - timedelta(minutes=minutes_ago) + timedelta(seconds=2),
        verified=True,
        source_ip="127.0.0.1",
        payload=body,
        size=len(body),
        customer_id=payload.get("customer_id"),  # type: ignore[arg-type]
        entity_id=payload.get("entity_id") or payload.get("id"),  # type: ignore[arg-type]
        refresh_id=payload.get("refresh_id"),  # type: ignore[arg-type]
        status=payload.get("status"),  # type: ignore[arg-type]
        bank_identifier=(payload.get("bank_details") or {}).get("identifier"),  # type: ignore[union-attr]
    )


@pytest.fixture
def db(tmp_path: Path, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> EventStore:
    url = f"sqlite:///{tmp_path / 'screen.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    store = EventStore(url)
    store.migrate()
    return store


@pytest.fixture
def screen(db: EventStore) -> Iterator[AppTest]:
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/webhooks.py")
    yield at


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def refresh_payload(status: str) -> dict:
    return {
        "refresh_id": "r-1",
        "entity_id": "ent-1",
        "customer_id": "cust-1",
        "app_user_id": "usr_1",
        "status": status,
        "data_status": {
            "accounts": "SUCCESS",
            "identity": "SUCCESS",
            "account_data": [
                {"account_id": "acc-1", "balance": "SUCCESS", "transactions": "FAILED"}
            ],
        },
    }


def seed_events(db: EventStore) -> None:
    db.write_events(
        [
            record(
                "ev-created",
                "entity.created",
                50,
                id="ent-1",
                customer_id="cust-1",
                permissions=["accounts"],
                bank_details={"identifier": "RJHI_SAMAOB_SAU", "name": "Al Rajhi Bank"},
            ),
            record("ev-pending", "entity.data.refresh.updated", 40, **refresh_payload("PENDING")),
            record("ev-finished", "entity.data.refresh.updated", 39, **refresh_payload("FINISHED")),
            record("ev-payment", "payment.created", 5, customer_id="cust-2", amount=10),
        ]
    )


def test_empty_store_says_nothing_arrived(screen: AppTest) -> None:
    screen.run()
    assert not screen.exception
    assert "No webhook has been received yet" in texts(screen.info)


def test_inbox_lists_newest_first_with_summaries(screen: AppTest, db: EventStore) -> None:
    seed_events(db)
    screen.run()
    table = screen.dataframe[0].value
    assert list(table["event_id"]) == ["ev-payment", "ev-finished", "ev-pending", "ev-created"]
    rows = {row["event_id"]: row for row in table.to_dict("records")}
    # The summary says what the Type and Status cells beside it do not (whole at 1280 px).
    assert rows["ev-finished"]["Status"] == "Data failed · FINISHED"
    assert rows["ev-finished"]["Summary"] == "1 of 7 data types failed on 1 of 1 account"
    assert rows["ev-payment"]["Type"] == "payment.created"
    assert rows["ev-payment"]["Summary"] == "Not interpreted by the console"


def test_verified_is_a_column_only_when_a_row_is_not(screen: AppTest, db: EventStore) -> None:
    """With a secret set every stored event is verified: the column said "Yes" on every row
    while the summary beside it was cut at 1280 px."""
    seed_events(db)
    screen.run()
    assert "Verified" not in screen.dataframe[0].proto.column_order
    assert "Summary" in screen.dataframe[0].proto.column_order
    unsigned = record("ev-unsigned", "entity.created", 1, id="ent-2", customer_id="cust-2")
    db.write_events([replace(unsigned, verified=False)])
    screen.run()
    assert "Verified" in screen.dataframe[0].proto.column_order
    assert list(screen.dataframe[0].value["Verified"])[:2] == ["No", "Yes"]


def test_filter_by_type_and_customer(screen: AppTest, db: EventStore) -> None:
    seed_events(db)
    screen.run()
    screen.multiselect(key="wh_types").set_value(["entity.data.refresh.updated"]).run()
    assert set(screen.dataframe[0].value["event_id"]) == {"ev-finished", "ev-pending"}
    screen.multiselect(key="wh_types").set_value([]).run()
    screen.text_input(key="wh_customer").set_value("cust-2").run()
    assert list(screen.dataframe[0].value["event_id"]) == ["ev-payment"]


def test_free_text_search(screen: AppTest, db: EventStore) -> None:
    seed_events(db)
    screen.run()
    screen.text_input(key="wh_text").set_value("acc-1").run()
    assert set(screen.dataframe[0].value["event_id"]) == {"ev-finished", "ev-pending"}


def test_an_arabic_bank_name_found_nowhere_points_to_the_bank_filter(
    screen: AppTest, db: EventStore
) -> None:
    seed_events(db)
    screen.run()
    screen.text_input(key="wh_text").set_value("مصرف الراجحي").run()
    assert "No events match these filters." in texts(screen.info)
    assert "choose it under *Bank*" in texts(screen.caption)
    screen.text_input(key="wh_text").set_value("no such word").run()
    assert "choose it under *Bank*" not in texts(screen.caption)


def test_one_event_in_full(screen: AppTest, db: EventStore) -> None:
    seed_events(db)
    screen.query_params["event_id"] = "ev-finished"
    screen.run()
    assert not screen.exception
    metrics = {m.label: m.value for m in screen.metric}
    # Lean's FINISHED alone would read as success: the verdict on the data comes first, Lean's
    # word beside it in the same (red) colour.
    assert metrics["Signature verified"] == "Yes" and metrics["Deliveries"] == "1"
    (status,) = [m for m in screen.metric if m.label == "Status"]
    assert status.value == "Failed" and status.delta == "Lean: FINISHED"
    assert status.proto.color == status.proto.MetricColor.RED
    cells = screen.dataframe[0].value
    by_type = dict(zip(cells["Data type"], cells["Status"], strict=True))
    assert set(cells["Account"]) == {"acc-1"}
    assert by_type["Transactions"] == "failed" and by_type["Balance"] == "success"
    assert by_type["Standing orders"] == "not reported"
    assert "not reported" in texts(screen.caption)
    assert "entity.data.refresh.updated" in texts(screen.markdown)
    # A finished refresh whose data failed reads as a failure, in words and in red, never green.
    assert "1 of 7 data types failed on 1 of 1 account" in texts(screen.error)
    assert "Failed · Lean's status" in texts(screen.error)
    assert not screen.success


def test_unknown_event_id_is_a_warning(screen: AppTest) -> None:
    screen.query_params["event_id"] = "never-received"
    screen.run()
    assert "No event with event_id" in texts(screen.warning)


def test_rejections_and_dead_letters_have_their_tabs(screen: AppTest, db: EventStore) -> None:
    db.record_rejection(
        source_ip="198.51.100.4",
        status_code=401,
        reason="signature does not match the body",
        size=99,
        signature="sha512=bad",
    )
    db.record_dead_letter(
        source_ip="127.0.0.1", reason="body is not valid JSON", verified=True, body=b"{oops"
    )
    screen.run()
    labels = [t.label for t in screen.tabs]
    # Stable names (the open one is in the URL as `section`); the counts are inside each.
    assert labels == ["Inbox", "Rejected", "Dead letters"]
    screen.query_params["section"] = "Rejected"
    screen.run()
    rejected = screen.dataframe[0].value
    assert rejected.iloc[0]["Reason"] == "signature does not match the body"
    screen.query_params["section"] = "Dead letters"
    screen.run()
    letters = screen.dataframe[0].value
    assert list(letters["Reason"]) == ["body is not valid JSON"]
    assert list(letters["State"]) == ["Not reprocessed"]


def test_query_params_prefill_filters(screen: AppTest, db: EventStore) -> None:
    seed_events(db)
    screen.query_params["bank"] = "RJHI_SAMAOB_SAU"
    screen.run()
    assert list(screen.dataframe[0].value["event_id"]) == ["ev-created"]


def test_unreachable_database_is_a_message_not_a_traceback(
    sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/webhooks.py").run()
    assert not at.exception
    assert "The event store is unavailable" in texts(at.error)


def test_an_event_that_came_again_with_another_body_says_so_and_links_to_it(
    screen: AppTest, db: EventStore
) -> None:
    first = record("ev-two-bodies", "entity.created", 5, customer_id="c1")
    other = record("ev-two-bodies", "entity.created", 4, customer_id="<b>c2</b>")
    results = db.write_events([first, other, other])
    assert [r.different_body for r in results] == [False, True, True]

    screen.query_params["event_id"] = "ev-two-bodies"
    screen.run()
    assert not screen.exception
    assert (
        "2 of these 3 deliveries came with another body (1 other body in all). This event "
        "keeps the body it first came with" in texts(screen.warning)
    )
    (link,) = [link for link in screen.get("page_link") if link.proto.label == "Dead letters"]
    assert parse_qs(link.proto.query_string) == {"section": ["Dead letters"]}

    screen.query_params["event_id"] = "ev-plain"
    db.write_events([record("ev-plain", "entity.created", 3, customer_id="c3")] * 2)
    screen.run()
    assert "another body" not in texts(screen.warning)
