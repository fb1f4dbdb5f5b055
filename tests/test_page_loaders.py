"""Cached loaders live in console modules, once per process, and screens asking Lean the same
thing share one cache (issue #11): a page script never defines a cached function, and the bank
directory or bank list one screen fetched is not fetched again by the next."""

from __future__ import annotations

import ast
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from console.store import EventStore
from sandbox.server import SandboxServer

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


def test_screens_share_one_bank_directory(
    screen: AppTest, sandbox_env: SandboxServer, db: EventStore
) -> None:
    st.cache_data.clear()
    data = sandbox_env.state.data
    customer_id, entities = sorted(data.entities_by_customer.items())[0]
    entity_id = entities[0].entity_id
    # The bank connection's screen asks for the directory (personal and business lists)…
    opened = banks_calls(
        sandbox_env, screen, "pages/entities.py", entity_id=entity_id, customer_id=customer_id
    )
    assert len(opened) == 2
    # …and Triage names the banks from the same cache, without asking Lean again.
    screen.query_params.clear()
    assert banks_calls(sandbox_env, screen, "pages/triage.py", q=customer_id) == []
    assert "Timeline" in [h.value for h in screen.subheader]


def test_screens_share_one_bank_list(screen: AppTest, sandbox_env: SandboxServer) -> None:
    st.cache_data.clear()  # the fixture's first run opened the Overview already
    # The Overview asks for the personal banks' availability…
    assert len(banks_calls(sandbox_env, screen, "pages/overview.py")) == 1
    # …and the Banks screen asks only for the business banks: the personal list is shared.
    assert len(banks_calls(sandbox_env, screen, "pages/banks.py")) == 1
    assert not screen.exception


def test_a_finished_refresh_clears_the_accounts_every_screen_shares(
    sandbox_env: SandboxServer,
) -> None:
    from console.runtime import get_backend
    from console.ui_account_data import forget_data
    from console.ui_loaders import load_accounts

    st.cache_data.clear()
    key = get_backend().key
    entity = next(e for es in sandbox_env.state.data.entities_by_customer.values() for e in es)
    first = load_accounts(key, entity.entity_id)
    before = sandbox_env.state.stats["requests"]
    assert load_accounts(key, entity.entity_id).fetched_at == first.fetched_at
    assert sandbox_env.state.stats["requests"] == before  # cached: Lean not asked
    forget_data()  # what Accounts & data runs when its refresh finishes
    assert load_accounts(key, entity.entity_id).fetched_at > first.fetched_at
    assert sandbox_env.state.stats["requests"] > before
