"""The gate and the roles in AppTest: who gets in, and what each role sees and may do."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console import audit
from console.access import AccessDenied, Actor, Role
from console.actions import create_customer, start_book_sync, trigger_refresh
from console.last_good import last_good
from console.store import EventStore
from lean_api import LeanClient
from lean_api.config import LeanSettings
from lean_api.errors import LeanError
from sandbox.server import SandboxServer
from tests.test_account_data_screen import entities, texts

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def console(
    tmp_path: Path, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppTest]:
    url = f"sqlite:///{tmp_path / 'access.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    EventStore(url).migrate()
    st.cache_data.clear()
    last_good().clear()
    yield AppTest.from_file(APP, default_timeout=30)
    last_good().clear()


def as_role(at: AppTest, monkeypatch: pytest.MonkeyPatch, role: str) -> AppTest:
    monkeypatch.setenv("CONSOLE_DEFAULT_ROLE", role)
    return at.run()


def test_real_credentials_without_sign_in_show_no_screen(
    console: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONSOLE_BEHIND_SIGN_IN")
    at = console.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign-in is not configured"]
    assert "CONSOLE_BEHIND_SIGN_IN=true" in texts(at)
    assert not at.text_input  # no lookup, no search: nothing of the console is reachable


def test_behind_a_proxy_a_person_no_rule_names_is_refused(
    console: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONSOLE_DEFAULT_ROLE")
    at = console.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["No access"]
    assert "without a `X-Forwarded-Email` header" in texts(at)


def test_unusable_role_settings_stop_the_console_with_the_reason(
    console: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSOLE_ADMINS", "ops-team")
    at = console.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["The role settings cannot be used"]
    assert "ops-team" in texts(at)


def test_oidc_configured_asks_to_sign_in_first(
    console: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONSOLE_BEHIND_SIGN_IN")
    console.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "not-a-real-secret",
        "client_id": "console",
        "client_secret": "s",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
    at = console.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Sign in with your company account" in texts(at)
    assert not at.text_input


def test_a_viewer_reads_masked_and_cannot_act(
    console: AppTest, monkeypatch: pytest.MonkeyPatch, sandbox_env: SandboxServer
) -> None:
    at = as_role(console, monkeypatch, "viewer")
    at.switch_page("pages/customers.py").run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Browse customers"]  # no "Create customer"
    entity = entities(sandbox_env)[0]
    at.switch_page("pages/account_data.py")
    at.query_params["entity_id"] = entity.entity_id
    at = at.run()
    assert not at.exception
    words = texts(at)
    assert "Refreshing data needs the admin role (yours: viewer)." in words
    assert "Verifying ownership needs the support or admin role (yours: viewer)." in words
    assert "Personal data stays masked for your role." in words
    assert not [b for b in at.button if b.label == "Refresh data now"]
    assert not at.toggle
    assert not [b for b in at.button if b.label in ("Reveal", "Mask again")]
    assert not [s for s in at.selectbox if str(s.key).startswith("data_reveal")]


def test_support_verifies_and_reveals_but_does_not_refresh(
    console: AppTest, monkeypatch: pytest.MonkeyPatch, sandbox_env: SandboxServer
) -> None:
    at = as_role(console, monkeypatch, "support")
    entity = entities(sandbox_env)[0]
    at.switch_page("pages/account_data.py")
    at.query_params["entity_id"] = entity.entity_id
    at = at.run()
    assert not at.exception
    assert "Reveal a row" in texts(at)
    assert at.selectbox(key="data_reveal_account:item")  # the per-row reveal is offered
    assert [b for b in at.button if b.label == "Verify ownership"]
    assert "Refreshing data needs the admin role (yours: support)." in texts(at)


def test_the_actions_check_the_role_themselves_and_are_audited(
    sandbox_env: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'actions.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    viewer = Actor("v@example.com", "V", Role.VIEWER, "proxy")
    support = Actor("s@example.com", "S", Role.SUPPORT, "proxy")
    admin = Actor("a@example.com", "A", Role.ADMIN, "proxy")
    client = LeanClient(LeanSettings.from_env())
    active = entities(sandbox_env)[0]
    before = len(sandbox_env.state.request_log)
    with pytest.raises(AccessDenied, match="cannot trigger data refreshes"):
        trigger_refresh(client, active.entity_id, support)
    with pytest.raises(AccessDenied, match="cannot create customers"):
        create_customer(client, "never-created", viewer)
    with pytest.raises(AccessDenied, match="cannot start a sync"):
        start_book_sync(EventStore(url), LeanSettings.from_env(), None)
    assert len(sandbox_env.state.request_log) == before  # nothing reached Lean
    expired = entities(sandbox_env, status="EXPIRED")[0]
    with pytest.raises(LeanError):
        trigger_refresh(client, expired.entity_id, admin)
    lines = {(e.actor, e.action, e.outcome, e.detail) for e in audit.search(EventStore(url))}
    assert ("s@example.com", "trigger_refresh", "denied", None) in lines
    assert ("v@example.com", "create_customer", "denied", None) in lines
    assert ("nobody signed in", "sync_book", "denied", None) in lines
    assert any(
        who == "a@example.com" and outcome == "failed" and "403 CONSENT_EXPIRED" in (detail or "")
        for who, _, outcome, detail in lines
    )


def test_an_admin_searches_the_audit_log_and_a_viewer_has_no_such_screen(
    console: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    someone = Actor("pat@example.org", "Pat", Role.SUPPORT, "oidc")
    audit.record(EventStore(os.environ["DATABASE_URL"]), someone, "view_customer",
                 subject_kind="customer", subject="c-<b>1</b>")  # fmt: skip
    at = as_role(console, monkeypatch, "admin")
    at.switch_page("pages/audit.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    row = table[table["Who"] == "pat@example.org"].iloc[0]
    assert (row["Did"], row["Subject"], row["Role"]) == (
        "looked up a customer",
        "c-<b>1</b>",
        "support",
    )
    assert at.get("download_button")
    viewer = as_role(AppTest.from_file(APP, default_timeout=30), monkeypatch, "viewer")
    with pytest.raises(Exception, match="audit"):
        viewer.switch_page("pages/audit.py").run()
