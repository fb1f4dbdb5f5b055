"""The Refresh screen in AppTest: against the sandbox over real HTTP, with a real event store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from console.refreshes import REFRESH_EVENT_TYPE
from console.store import EventRecord, EventStore
from sandbox.faults import FaultConfig
from sandbox.seed import SeedEntity
from sandbox.server import SandboxServer
from tests.test_untrusted_text_screens import HOSTILE, assert_shown_literally

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SCREEN = "pages/refreshes.py"  # the page the shared `screen` fixture (tests/conftest.py) opens
UNKNOWN_UUID = "00000000-0000-4000-8000-0000000000ee"


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def open_entity(at: AppTest, entity_id: str, **params: str) -> AppTest:
    at.query_params["entity_id"] = entity_id
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def entity_with(sandbox: SandboxServer, *, consent: str, failed_account: bool) -> SeedEntity:
    for entity in sorted(sandbox.state.data.entities.values(), key=lambda e: e.entity_id):
        if entity.current_consent.status != consent or not entity.refreshes:
            continue
        if consent == "ACTIVE" and entity.current_consent.expires < datetime.now(UTC):
            continue
        failing = any(
            "FAILED" in row.values() for r in entity.refreshes for row in r.account_statuses
        )
        if failing or not failed_account:
            return entity
    raise AssertionError("the seed has no such entity")


def store_refresh(
    db: EventStore, entity_id: str, body: dict[str, Any], at: datetime, event_id: str
) -> None:
    payload = {"entity_id": entity_id, **body}
    raw = json.dumps(
        {"type": REFRESH_EVENT_TYPE, "message": "m", "payload": payload, "event_id": event_id}
    )
    db.write_events(
        [
            EventRecord(
                event_id=event_id,
                type=REFRESH_EVENT_TYPE,
                message="m",
                lean_timestamp=at,
                received_at=at,
                verified=True,
                source_ip="127.0.0.1",
                payload=raw,
                size=len(raw),
                entity_id=entity_id,
                refresh_id=str(body["refresh_id"])[:64],
                status=str(body.get("status"))[:64],
            )
        ]
    )


def test_a_refresh_with_a_failed_account_reads_failed_in_words_and_cells(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    seeded = entity_with(sandbox, consent="ACTIVE", failed_account=True)
    failing = next(
        r for r in seeded.refreshes if any("FAILED" in row.values() for row in r.account_statuses)
    )
    at = open_entity(
        screen, seeded.entity_id, customer_id=seeded.customer_id, refresh_id=failing.refresh_id
    )
    assert not at.exception and not at.error, [e.value for e in at.error]
    history = at.dataframe[0].value
    assert set(history["refresh_id"]) == {r.refresh_id for r in seeded.refreshes}
    assert set(history["Source"]) == {"API"}
    row = history[history["refresh_id"] == failing.refresh_id].iloc[0]
    assert "data types failed on" in row["Outcome"] and row["Lean status"] == "FINISHED"
    assert row["Duration"].endswith(" s") or "min" in row["Duration"]
    assert at.selectbox(key="refresh_pick").value == failing.refresh_id
    # The heatmap, its table and the entity level all say the words.
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert len(specs) == 3  # history, heatmap, transaction windows
    heat = next(t for t in specs[1]["data"] if t["type"] == "heatmap")
    assert any("failed" in row for row in heat["text"])
    # Every word drawn on its cell, in a colour of its own.
    words = next(t for t in specs[1]["data"] if t.get("name") == "cell words")
    colours = zip(words["text"], words["textfont"]["color"], strict=True)
    assert {colour for text, colour in colours if text == "failed"} == {"#ffffff"}
    # Data types down, accounts across.
    cells = at.dataframe[2].value
    accounts = [c for c in cells.columns if c != "Data type"]
    assert len(accounts) == len(failing.account_statuses)
    assert list(cells["Data type"])[-1] == "account_id"
    assert "failed" in set(cells[cells["Data type"] != "account_id"][accounts].values.ravel())
    for account in seeded.accounts:
        masked = f"{account.iban[:4]} •••• •••• •• {account.iban[-2:]}"
        assert any(masked in label for label in accounts)
        assert all(account.iban not in label for label in accounts)
    entity_level = at.dataframe[1].value
    assert list(entity_level["Data"]) == ["Accounts list", "Identity"]
    # Transaction windows: the consent lane, each account's last transaction date, findings.
    assert "Consent allows" in specs[2]["layout"]["yaxis"]["categoryarray"]
    windows = at.dataframe[3].value
    assert len(windows) == len(failing.account_statuses)
    assert all(
        text.startswith(("data ends ", "no end date reported"))
        for text in windows["Last transaction date"]
    )
    findings = at.dataframe[4].value
    assert set(findings["Kind"]) <= {"Gap", "Note"} and len(findings)
    failed_windows = [
        row for row in failing.account_statuses
        if row.get("transactions") == "FAILED" and row.get("transaction_availability")
    ]  # fmt: skip
    if failed_windows:
        assert "not data held" in " ".join(findings["Finding"])
    # Links to the other screens carry the customer, so they open at once.
    links = {(link.proto.label, link.proto.query_string) for link in at.get("page_link")}
    assert ("This refresh's webhooks", f"refresh_id={failing.refresh_id}") in links
    known = f"entity_id={seeded.entity_id}&customer_id={seeded.customer_id}"
    assert ("Accounts & data", known) in links
    assert (
        "Refresh webhooks of this entity",
        f"{known}&type=entity.data.refresh.updated",
    ) in links


def test_the_newest_refresh_is_chosen_by_default(screen: AppTest, sandbox: SandboxServer) -> None:
    seeded = entity_with(sandbox, consent="ACTIVE", failed_account=False)
    newest = max(seeded.refreshes, key=lambda r: r.created_at)
    at = open_entity(screen, seeded.entity_id, customer_id=seeded.customer_id)
    assert not at.exception and not at.error
    assert at.selectbox(key="refresh_pick").value == newest.refresh_id
    assert at.dataframe[0].value["refresh_id"].iloc[0] == newest.refresh_id


def test_an_expired_consent_says_the_customer_must_reconnect(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    seeded = entity_with(sandbox, consent="EXPIRED", failed_account=False)
    at = open_entity(screen, seeded.entity_id, customer_id=seeded.customer_id)
    assert not at.exception and not at.error
    assert "must reconnect" in texts(at.warning)
    assert "Expired · EXPIRED" in texts(at.markdown)
    assert len(at.dataframe[0].value) == len(seeded.refreshes)
    findings = at.dataframe[-1].value
    assert any("must reconnect" in text for text in findings["Finding"])


def test_unknown_entity_is_leans_not_found_in_a_sentence(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    seeded = entity_with(sandbox, consent="ACTIVE", failed_account=False)
    at = open_entity(screen, UNKNOWN_UUID, customer_id=seeded.customer_id)
    assert not at.exception
    warning = texts(at.warning)
    assert "Lean has no such entity." in warning and "UNKNOWN_ENTITY" in warning
    assert warning.count("Lean has no such entity.") == 1, "said once, not per call"
    assert "No refresh can be shown" in texts(at.info)
    assert not at.get("plotly_chart")


def test_unknown_entity_without_customer_asks_lean_for_its_refreshes_only(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    at = open_entity(screen, UNKNOWN_UUID)
    assert not at.exception
    assert "Lean has no such entity." in texts(at.warning)
    assert "Add customer_id to the link" in texts(at.caption)


def test_malformed_entity_id_is_refused_without_a_call(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    sandbox.state.request_log.clear()
    at = open_entity(screen, "not-an-entity")
    assert "is not an entity_id" in texts(at.error)
    assert not any("not-an-entity" in path for _, path in sandbox.state.request_log)
    assert not any("/data/" in path for _, path in sandbox.state.request_log)


def test_lean_failing_still_shows_the_stored_webhook_refreshes(
    screen: AppTest, sandbox: SandboxServer, db: EventStore
) -> None:
    seeded = entity_with(sandbox, consent="ACTIVE", failed_account=False)
    started = datetime.now(UTC) - timedelta(hours=1)
    account = {"account_id": "acc-w", "balance": "OK", "transactions": "FAILED"}
    store_refresh(
        db,
        seeded.entity_id,
        {"refresh_id": "11111111-2222-4333-8444-555555555555", "status": "PENDING"},
        started,
        "ev-1",
    )
    store_refresh(
        db,
        seeded.entity_id,
        {
            "refresh_id": "11111111-2222-4333-8444-555555555555",
            "status": "FINISHED",
            "data_status": {"accounts": "OK", "identity": "OK", "account_data": [account]},
        },
        started + timedelta(seconds=30),
        "ev-2",
    )
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/data/"))
    at = open_entity(screen, seeded.entity_id, customer_id=seeded.customer_id)
    assert not at.exception
    assert "Lean had an internal error" in texts(at.error)
    assert "showing the 1 known from stored webhooks only" in texts(at.info)
    history = at.dataframe[0].value
    assert list(history["Source"]) == ["webhook"]
    assert list(history["Duration"]) == ["30 s"]
    assert list(history["Outcome"]) == ["Finished — 1 of 7 data types failed on 1 of 1 account"]
    assert "Lean did not give the accounts" in texts(at.caption)
    cells = at.dataframe[2].value.set_index("Data type")
    assert list(cells.columns) == ["acc-w"] and cells.loc["transactions", "acc-w"] == "failed"


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_from_a_webhook_is_shown_literally(
    screen: AppTest, db: EventStore, text: str
) -> None:
    body = {
        "refresh_id": text,
        "status": text,
        "data_status": {
            "accounts": text,
            "identity": "OK",
            "account_data": [
                {
                    "account_id": text,
                    "balance": text,
                    "transaction_availability": {"start": text, "end": "2026-11-01"},
                }
            ],
        },
    }
    store_refresh(db, UNKNOWN_UUID, body, datetime.now(UTC), "ev-hostile")
    at = open_entity(screen, UNKNOWN_UUID)
    assert_shown_literally(at, text)
    history = at.dataframe[0].value
    assert list(history["refresh_id"]) == [text]
    heat = next(
        t
        for t in json.loads(at.get("plotly_chart")[1].proto.spec)["data"]
        if t["type"] == "heatmap"
    )
    assert "<" not in json.dumps(heat["y"]) + json.dumps(heat["text"])


def test_without_entity_id_the_fleet_view_is_shown(screen: AppTest, sandbox: SandboxServer) -> None:
    sandbox.state.request_log.clear()
    at = screen.run()
    assert not at.exception and not at.error
    assert "refresh_pick" not in at.session_state, "no entity, so no refresh to pick"
    assert not any("/data/v2/refreshes" in path for _, path in sandbox.state.request_log)


def test_a_refresh_with_ten_thousand_accounts_shows_the_worst_and_says_so(
    screen: AppTest, db: EventStore
) -> None:
    accounts = [
        {"account_id": f"acc-{i:05d}", "balance": "FAILED" if i % 1000 == 7 else "OK"}
        for i in range(10_000)
    ]
    body = {
        "refresh_id": "r-huge",
        "status": "FINISHED",
        "data_status": {"accounts": "OK", "identity": "OK", "account_data": accounts},
    }
    store_refresh(db, UNKNOWN_UUID, body, datetime.now(UTC), "ev-huge")
    at = open_entity(screen, UNKNOWN_UUID)
    assert not at.exception
    assert "the 40 worst are shown below and 9,960 are left out" in " ".join(
        w.value for w in at.warning
    )
    heat = next(
        t
        for t in json.loads(at.get("plotly_chart")[1].proto.spec)["data"]
        if t["type"] == "heatmap"
    )
    assert len(heat["y"]) == 40
    assert sum("failed" in row for row in heat["text"]) == 10  # every failing account kept


def test_a_link_naming_another_refresh_is_said_with_the_value_cut(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    seeded = entity_with(sandbox, consent="ACTIVE", failed_account=True)
    at = open_entity(screen, seeded.entity_id, refresh_id="r" * 5000)
    assert not at.exception
    (note,) = [w.value for w in at.warning if "is not among this entity's refreshes" in w.value]
    assert f"{'r' * 59}…" in note and "r" * 61 not in note
