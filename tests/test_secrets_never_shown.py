"""Secrets never reach a screen or a log line: every screen is run, Lean both answering and
failing, and the rendered elements and captured logs are searched for the configured secrets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console.last_good import last_good
from console.runtime import get_backend
from console.store import EventStore
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from tests.test_account_data_screen import entities

APP = str(Path(__file__).resolve().parents[1] / "app.py")
WEBHOOK_SECRET = "whsec-never-shown-8f1c2d"
DB_PASSWORD = "db-pass-never-shown-77"


def rendered(at: AppTest) -> str:
    """Every value the run put on the page, tables and sidebar included."""
    parts: list[str] = []

    def walk(node: object) -> None:
        for attribute in ("value", "label", "body", "help", "placeholder"):
            value = getattr(node, attribute, None)
            if value is not None:
                parts.append(str(value))
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


@pytest.fixture
def screens(
    tmp_path: Path, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppTest]:
    url = f"sqlite:///{tmp_path / 'secrets.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LEAN_WEBHOOK_SECRET", WEBHOOK_SECRET)
    EventStore(url).migrate()
    st.cache_data.clear()
    last_good().clear()
    yield AppTest.from_file(APP, default_timeout=30)
    last_good().clear()


def test_no_screen_and_no_log_line_shows_a_secret(
    screens: AppTest,
    sandbox_env: SandboxServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    entity = entities(sandbox_env)[0]
    visits = [
        ("pages/overview.py", {}),
        ("pages/customers.py", {"customer_id": entity.customer_id}),
        ("pages/expiring.py", {}),
        ("pages/entities.py", {"entity_id": entity.entity_id, "customer_id": entity.customer_id}),
        ("pages/account_data.py", {"entity_id": entity.entity_id}),
        ("pages/refreshes.py", {"entity_id": entity.entity_id}),
        ("pages/refreshes.py", {}),
        ("pages/webhooks.py", {}),
        ("pages/banks.py", {}),
        ("pages/audit.py", {}),
        ("pages/triage.py", {"q": entity.customer_id}),
        ("pages/request_log.py", {}),
        ("pages/connect.py", {"customer_id": entity.customer_id}),
    ]
    # A new screen cannot be left out of this walk.
    assert {page for page, _ in visits} == {
        f"pages/{path.name}" for path in (Path(APP).parent / "pages").glob("*.py")
    }
    pages: list[str] = []
    at = screens.run()
    for failing in (False, True):
        if failing:  # Lean refusing the credentials and failing: error paths show no secret
            sandbox_env.faults.set(FaultConfig(error_rate=1.0))
            st.cache_data.clear()
            last_good().clear()
        for page, params in visits:
            at.switch_page(page)
            at.query_params.clear()
            for key, value in params.items():
                at.query_params[key] = value
            at = at.run()
            assert not at.exception, page
            pages.append(rendered(at))
    token = get_backend().client.tokens.token()
    secrets = {
        "client secret": sandbox_env.config.client_secret,
        "webhook secret": WEBHOOK_SECRET,
        "API token": token,
    }
    text = "\n".join(pages) + "\n" + caplog.text
    # The search reads what was shown: the ids the screens display are there.
    assert entity.entity_id in text
    for name, secret in secrets.items():
        assert secret not in text, f"the {name} appeared on a screen or in a log line"
    assert sandbox_env.config.client_secret not in repr(get_backend())


def test_a_database_password_is_never_shown(
    screens: AppTest, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql+psycopg://console:{DB_PASSWORD}@127.0.0.1:1/console"
    )
    at = screens.run()
    for page in ("pages/webhooks.py", "pages/overview.py", "pages/audit.py"):
        at.switch_page(page)
        at = at.run()
        assert not at.exception, page
        assert DB_PASSWORD not in rendered(at), page
    assert DB_PASSWORD not in caplog.text
