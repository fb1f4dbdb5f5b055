"""Cached loaders live in console modules, once per process, and screens asking Lean the same
thing share one cache (issue #11): a page script never defines a cached function, and the bank
directory or bank list one screen fetched is not fetched again by the next."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console.store import EventStore
from sandbox.server import SandboxConfig, SandboxServer
from tests.conftest import ANCHOR, point_console_at_sandbox

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
CACHES = {"cache_data", "cache_resource"}
SCREEN = "pages/overview.py"  # the page the shared `screen` fixture (tests/conftest.py) opens


def cached_functions(source: str) -> list[str]:
    """Names of the functions in `source` decorated with st.cache_data / st.cache_resource (with
    or without arguments, however streamlit was imported)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name in CACHES:
                found.append(node.name)
    return found


def test_the_finder_sees_a_cached_loader() -> None:
    source = (
        "import streamlit as st\nfrom streamlit import cache_resource\n"
        "@st.cache_data(ttl=60)\ndef a(): ...\n@st.cache_data\ndef b(): ...\n"
        "@cache_resource\ndef c(): ...\ndef d(): ...\n"
    )
    assert cached_functions(source) == ["a", "b", "c"]


def test_no_page_script_defines_a_cached_function() -> None:
    pages = sorted((ROOT / "pages").glob("*.py"))
    assert len(pages) >= 7
    offenders = {
        page.name: names
        for page in pages
        if (names := cached_functions(page.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "move these loaders into a console/ui_*.py module"


@pytest.fixture
def quiet_sandbox(db: EventStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxServer]:
    """A sandbox of this test's own, the console pointed at it (after `db`, which points it at
    the shared one): no thread another test left running can call it while a screen's calls
    are counted. Ask for it before `screen`."""
    with SandboxServer(SandboxConfig(anchor=ANCHOR)) as server:
        point_console_at_sandbox(server, monkeypatch)
        yield server


def banks_calls(sandbox: SandboxServer, run: AppTest, page: str, **query: str) -> list[str]:
    """The calls to Lean's banks list made while `run` showed `page`."""
    before = sandbox.state.stats["requests"]
    run.switch_page(page)
    for key, value in query.items():
        run.query_params[key] = value
    run.run()
    assert not run.exception, run.exception
    made = sandbox.state.stats["requests"] - before
    log = list(sandbox.state.request_log)[-made:] if made else []
    return [path for method, path in log if method == "GET" and path.startswith("/banks/v1")]


def test_screens_share_one_bank_directory(quiet_sandbox: SandboxServer, screen: AppTest) -> None:
    st.cache_data.clear()
    data = quiet_sandbox.state.data
    customer_id, entities = sorted(data.entities_by_customer.items())[0]
    entity_id = entities[0].entity_id
    # The bank connection's screen asks for the directory (personal and business lists)…
    opened = banks_calls(
        quiet_sandbox, screen, "pages/entities.py", entity_id=entity_id, customer_id=customer_id
    )
    assert len(opened) == 2
    # …and Triage names the banks from the same cache, without asking Lean again.
    screen.query_params.clear()
    assert banks_calls(quiet_sandbox, screen, "pages/triage.py", q=customer_id) == []
    assert "Timeline" in [h.value for h in screen.subheader]


def test_screens_share_one_bank_list(quiet_sandbox: SandboxServer, screen: AppTest) -> None:
    st.cache_data.clear()  # the fixture's first run opened the Overview already
    # The Overview asks for the personal banks' availability…
    assert len(banks_calls(quiet_sandbox, screen, "pages/overview.py")) == 1
    # …and the Banks screen asks only for the business banks: the personal list is shared.
    assert len(banks_calls(quiet_sandbox, screen, "pages/banks.py")) == 1
    assert not screen.exception


def test_a_finished_refresh_clears_the_accounts_every_screen_shares(
    quiet_sandbox: SandboxServer,
) -> None:
    from console.runtime import get_backend
    from console.ui_account_data import forget_data
    from console.ui_loaders import load_accounts

    st.cache_data.clear()
    key = get_backend().key
    entity = next(e for es in quiet_sandbox.state.data.entities_by_customer.values() for e in es)
    first = load_accounts(key, entity.entity_id)
    before = quiet_sandbox.state.stats["requests"]
    assert load_accounts(key, entity.entity_id).fetched_at == first.fetched_at
    assert quiet_sandbox.state.stats["requests"] == before  # cached: Lean not asked
    forget_data()  # what Accounts & data runs when its refresh finishes
    assert load_accounts(key, entity.entity_id).fetched_at > first.fetched_at
    assert quiet_sandbox.state.stats["requests"] > before
