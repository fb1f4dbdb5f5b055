"""The request log screen in AppTest: the calls a screen made, who may see them, URL filters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from console.access import Actor, Role
from console.last_good import last_good
from console.request_log import RequestLog, request_log_for
from console.runtime import get_store
from console.store import EventStore
from console.ui_access import ACTOR_KEY
from lean_api.calls import LeanCall
from sandbox.seed import SeedCustomer
from sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGE = "pages/request_log.py"
HOSTILE = "<img src=x onerror=alert(1)>**bold** [link](http://evil) :material/home:"


def run_app_py(main_script_path: str) -> None:
    """What the script runner does when the pages folder mode is off (server.py turns it off)."""
    path = Path(main_script_path)
    exec(compile(path.read_text(), str(path), "exec"), {"__name__": "__main__"})


@pytest.fixture
def console(
    tmp_path: Path, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppTest]:
    # As server.py runs it: every page through app.py's navigation (so its `calling_as` applies),
    # not the pages folder run page by page that AppTest falls back to.
    monkeypatch.setattr(script_runner, "_mpa_v1", run_app_py)
    url = f"sqlite:///{tmp_path / 'requests.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    EventStore(url).migrate()
    st.cache_data.clear()
    last_good().clear()
    yield AppTest.from_file(APP, default_timeout=30)
    last_good().clear()


def texts(at: AppTest) -> str:
    parts = [str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "title")
             for e in getattr(at, kind)]  # fmt: skip
    return " ".join(parts)


def recorder() -> RequestLog:
    return request_log_for(get_store())


def as_role(at: AppTest, monkeypatch: pytest.MonkeyPatch, role: str) -> AppTest:
    monkeypatch.setenv("CONSOLE_DEFAULT_ROLE", role)
    return at.run()


def test_an_admin_sees_the_calls_an_earlier_lookup_made_with_its_screen(
    console: AppTest, some_customer_with_entities: SeedCustomer
) -> None:
    customer_id = some_customer_with_entities.customer_id
    at = console.run()
    at.switch_page("pages/customers.py")
    at.query_params["customer_id"] = customer_id
    at.run()
    assert not at.exception
    assert recorder().wait_idle()

    at.query_params.clear()
    at.switch_page(PAGE).run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    mine = table[table["Call"].str.contains(customer_id, regex=False)]
    assert set(mine["Call"]) == {
        f"GET /customers/v1/{customer_id}", f"GET /customers/v1/{customer_id}/entities",
    }  # fmt: skip
    assert set(mine["Screen"]) == {"Customers"} and set(mine["Answer"]) == {"200 · ok"}
    assert "Time (UTC)" in table.columns
    assert {m.label for m in at.metric} >= {"Calls", "Did not end ok", "p95 latency"}
    assert at.get("download_button")

    # The id filter, as a pasted link carries it, narrows the table to that customer's calls.
    at.query_params["q"] = customer_id
    at.run()
    table = at.dataframe[-1].value
    assert len(table) == len(mine)
    assert all(customer_id in call for call in table["Call"])


@pytest.mark.parametrize("role", ["viewer", "support"])
def test_other_roles_have_no_request_log(
    console: AppTest, monkeypatch: pytest.MonkeyPatch, role: str
) -> None:
    at = as_role(console, monkeypatch, role)
    assert not at.exception
    with pytest.raises(Exception, match="request_log"):
        at.switch_page(PAGE).run()


def test_a_non_admin_who_reaches_the_page_is_refused_in_the_page(
    console: AppTest,
) -> None:
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=30)
    at.session_state[ACTOR_KEY] = Actor("v@example.com", "V", Role.VIEWER, "proxy")
    at.run()
    assert not at.exception
    assert "cannot see the request log" in texts(at)
    assert not at.dataframe and not at.get("download_button")


def test_filters_come_from_the_url_and_hostile_text_stays_text(
    console: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = recorder()
    at_time = datetime.now(UTC)
    for status, outcome, message in ((200, "ok", None), (404, "not_found", HOSTILE)):
        log.record(
            LeanCall(
                at=at_time,
                method="GET",
                path=f"/customers/v1/{HOSTILE}",
                route="/customers/v1/{customer_id}",
                status=status,
                outcome=outcome,
                lean_code=HOSTILE if status == 404 else None,
                results_id=None,
                latency_ms=5,
                retries=0,
                caller=HOSTILE,
                on_behalf_of=HOSTILE,
                customer_id=HOSTILE[:64],
                entity_id=None,
                refresh_id=None,
                message=message,
            )
        )
    assert log.wait_idle()
    at = console.run()
    for name, value in {"status": "4xx", "q": HOSTILE, "screen": HOSTILE, "period": "1h"}.items():
        at.query_params[name] = value
    at.switch_page(PAGE).run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert list(table["Answer"]) == ["404 · not_found"] and list(table["Lean code"]) == [HOSTILE]
    assert list(table["Screen"]) == [HOSTILE]
    assert "onerror" not in texts(at)  # shown in the table and inputs only, never as Markdown
    assert at.text_input[0].value == HOSTILE
    assert at.selectbox[1].value == "4xx"

    at.query_params["status"] = "<b>7xx</b>"
    at.query_params["before"] = "not-a-number"
    at.run()
    assert not at.exception
    assert "cannot use; they are ignored: before, status." in texts(at)
    assert len(at.dataframe[-1].value) == 2


def test_an_empty_log_says_how_calls_get_there(
    console: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = console.run()
    at.query_params["period"] = "1h"
    at.query_params["route"] = "/never/called"
    at.switch_page(PAGE).run()
    assert not at.exception
    assert "No call matches these filters" in texts(at) or "No call to Lean" in texts(at)


def test_a_search_too_long_stays_in_the_box_and_is_refused(console: AppTest) -> None:
    """No `max_chars` on the box (a longer paste was dropped whole in the browser): too long a
    text is refused with its length, kept in the box, and the filters stay as they were."""
    at = console.run()
    at.query_params["q"] = "customers"
    at.switch_page(PAGE).run()
    pasted = "/customers/v1/" + "9" * 300
    at.text_input[0].set_value(pasted)
    at.button[0].click().run()
    assert not at.exception
    assert f"That is {len(pasted)} characters" in texts(at)
    assert at.text_input[0].value == pasted
    assert at.query_params["q"] == "customers"
