"""The Banks screen in AppTest: list, one bank, unknown bank, Lean failing, 100 banks, odd words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console.formatting import literal_md
from console.last_good import last_good
from console.store import EventStore
from lean_api.client import LeanClient
from lean_api.models import Bank
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from tests.console.test_store_bank_health import stored
from tests.test_untrusted_text_screens import HOSTILE, markdown_sources, outside_code_spans

APP = str(Path(__file__).resolve().parents[1] / "app.py")
NOW = datetime.now(UTC).replace(microsecond=0)


def flags(data: object) -> dict:
    return {"active": {"data": data, "payments": True}, "enabled": {"data": True, "payments": True}}


def history(bank: str, *, failed: int = 0, ok: int = 10, status: str = "FAILED") -> list:
    records = [
        stored("entity.created", {"id": f"e-{bank}", "bank_details": {"identifier": bank}},
               NOW - timedelta(days=40), f"ent-{bank}"),
        stored("bank.availability.updated", {"identifier": bank, "availability": flags(True)},
               NOW - timedelta(days=20), f"up-{bank}"),
        stored("bank.availability.updated", {"identifier": bank, "availability": flags(False)},
               NOW - timedelta(days=5), f"down-{bank}"),
        stored("bank.availability.updated", {"identifier": bank, "availability": flags(True)},
               NOW - timedelta(days=4), f"up2-{bank}"),
    ]  # fmt: skip
    for i in range(failed + ok):
        payload = {
            "refresh_id": f"r-{bank}-{i}", "entity_id": f"e-{bank}", "status": "FINISHED",
            "data_status": {"account_data": [{"balance": status if i < failed else "SUCCESS"}]},
        }  # fmt: skip
        at = NOW - timedelta(hours=2)
        records.append(stored("entity.data.refresh.updated", payload, at, f"r-{bank}-{i}"))
    return records


@pytest.fixture
def db(tmp_path: Path, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> EventStore:
    url = f"sqlite:///{tmp_path / 'banks.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    store = EventStore(url)
    store.write_events(history("LEA1_SAMAOB_SAU") + history("SABB_SAMAOB_SAU", failed=8, ok=2))
    return store


@pytest.fixture
def screen(db: EventStore) -> Iterator[AppTest]:
    st.cache_data.clear()
    last_good().clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    # The first run opened the Overview, which shares the personal bank list with this screen:
    # forget it, so each test's Lean (faults, patched lists) is the one the screen asks.
    st.cache_data.clear()
    at.switch_page("pages/banks.py")
    yield at
    last_good().clear()


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def test_list_shows_every_bank_problems_first(screen: AppTest, sandbox: SandboxServer) -> None:
    at = screen.run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Personal (10)", "Business (10)"]
    table = at.dataframe[0].value
    assert set(table["Identifier"]) == {b.identifier for b in sandbox.state.data.banks}
    health = dict(zip(table["Identifier"], table["Health"], strict=True))
    assert health["SABB_SAMAOB_SAU"] in ("DOWN", "DEGRADED")  # 80% of balance refreshes failed
    assert health["RIBL_SAMAOB_SAU"] == "DOWN"  # switched off by Lean
    assert health["LEA1_SAMAOB_SAU"] in ("HEALTHY", "DOWN")  # DOWN only during an incident
    order = [
        {"DOWN": 0, "DEGRADED": 1, "NOT ENOUGH DATA": 2, "HEALTHY": 3}[h] for h in table["Health"]
    ]
    assert order == sorted(order)
    assert set(table["Open"]) == {f"/banks?bank={b.identifier}" for b in sandbox.state.data.banks}
    assert "DOWN" in texts(at.markdown) and "50%" in texts(at.markdown)  # thresholds on screen


def test_one_bank_has_its_timeline_uptime_and_health(screen: AppTest) -> None:
    screen.query_params["bank"] = "LEA1_SAMAOB_SAU"
    at = screen.run()
    assert not at.exception
    assert "Lean Mockbank 1" in texts(at.subheader)
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    figure = json.loads(charts[0].proto.spec)
    assert {"Available", "Disabled by Lean"} <= {trace["name"] for trace in figure["data"]}
    labels = {m.label: m.value for m in at.metric}
    assert labels["Uptime 30 days (data)"].endswith("%")
    assert float(labels["Uptime 7 days (data)"].rstrip("%")) < 100  # down one day in seven
    health = at.dataframe[0].value
    balance = health[health["Data type"] == "balance"].iloc[0]
    assert balance["Refreshes 24 h"] == 10 and balance["Success 24 h"] == "100.0%"
    assert "MOCKSA01" in texts(at.markdown)


def test_unknown_bank_is_a_clear_warning(screen: AppTest) -> None:
    screen.query_params["bank"] = "NOPE_<b>x</b>"
    at = screen.run()
    assert not at.exception
    assert f"Lean lists no bank with identifier {literal_md('NOPE_<b>x</b>')}" in texts(at.warning)
    screen.query_params["bank"] = "N" * 5000  # echoed cut, never whole
    at = screen.run()
    assert f"{'N' * 59}…" in texts(at.warning) and "N" * 61 not in texts(at.warning)


def test_lean_failing_is_an_operator_message(screen: AppTest, sandbox: SandboxServer) -> None:
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/banks"))
    at = screen.run()
    assert not at.exception
    assert texts(at.error).count("Lean had an internal error") == 1  # said once, not per list
    assert not at.dataframe


def constructed_banks(n: int) -> list[Bank]:
    return [
        Bank.model_validate(
            {"identifier": f"B{i:03d}_SAMAOB_SAU", "name": f"Bank {i}", "swift_code": f"SW{i:03d}",
             "availability": flags(i % 7 != 0), "transfer_limits": [{"currency": "SAR", "max": i}]}
        )
        for i in range(n)
    ]  # fmt: skip


def test_a_hundred_banks(screen: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LeanClient, "list_banks", lambda self, t="PERSONAL": constructed_banks(100))
    at = screen.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 100
    assert list(table["Health"][:15]) == ["DOWN"] * 15  # every seventh bank is off: first


def test_unknown_status_words(
    screen: AppTest, db: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = Bank.model_validate(
        {"identifier": "ODD_SAMAOB_SAU", "name": "Odd Bank",
         "availability": {"active": {"data": None}, "enabled": {}}, "new_field": {"x": 1}}
    )  # fmt: skip
    monkeypatch.setattr(LeanClient, "list_banks", lambda self, t="PERSONAL": [odd])
    weird = {"identifier": "ODD_SAMAOB_SAU", "availability": flags("maybe")}
    db.write_events(
        [
            *history("ODD_SAMAOB_SAU", failed=5, ok=5, status="EXPLODED"),
            stored("bank.availability.updated", weird, NOW - timedelta(hours=1), "weird"),
        ]
    )
    st.cache_data.clear()  # the Overview read the history before these arrived
    at = screen.run()
    assert not at.exception
    row = at.dataframe[0].value.iloc[0]
    assert row["Data"].startswith("Unknown")
    screen.query_params["bank"] = "ODD_SAMAOB_SAU"
    at = screen.run()
    assert not at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any(t["name"].startswith("Unknown") for t in figure["data"])
    balance = at.dataframe[0].value.iloc[0]
    assert balance["Other 24 h"] == "50.0%" and balance["Failed 24 h"] == "0.0%"


def test_overview_lists_banks_with_a_problem_first(db: EventStore) -> None:
    st.cache_data.clear()
    last_good().clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert "Bank health" in texts(at.subheader)
    table = at.dataframe[0].value
    assert table["Health"].iloc[0] == "DOWN"
    assert list(table.columns) == ["Health", "Bank", "Why", "Open"]
    severity = {"DOWN": 0, "DEGRADED": 1, "NOT ENOUGH DATA": 2, "HEALTHY": 3}
    order = [severity[h] for h in table["Health"]]
    assert order == sorted(order)
    assert table["Open"].str.startswith("/banks?bank=").all()


def test_hostile_bank_text_is_shown_literally(
    screen: AppTest, db: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = list(HOSTILE.values())
    bank = Bank.model_validate(
        {"identifier": hostile[0], "name": hostile[1], "commercial_name": hostile[2],
         "arabic_name": hostile[3], "swift_code": hostile[4], "traits": [hostile[5]],
         "availability": flags(True), "transfer_limits": [{"currency": hostile[5]}]}
    )  # fmt: skip
    monkeypatch.setattr(LeanClient, "list_banks", lambda self, t="PERSONAL": [bank])
    for query in (None, hostile[0], hostile[2]):
        if query:
            screen.query_params["bank"] = query
        at = screen.run()
        assert not at.exception
        sources = markdown_sources(at)
        assert sources
        for kind, source in sources:
            assert "EVIL" not in outside_code_spans(source), (kind, source)
