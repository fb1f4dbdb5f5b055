"""Sign-in for real: a local OpenID Connect provider, the console as `make run` starts it with an
`[auth]` section, and Chromium clicking through sign-in, roles, a refused person and sign-out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, running_console
from tests.ports import free_port

pytestmark = pytest.mark.e2e
SHOTS = os.environ.get("SCREENSHOT_DIR")


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """oidc-provider-mock on a free port: any subject may sign in, its e-mail is what is typed."""
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(port=free_port()) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def signed_console(provider: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The console with `[auth]` pointing at the provider, and roles by address and domain."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("signed")
    secrets = workdir / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
        'cookie_secret = "a-test-cookie-secret-that-is-long-enough"\n'
        'client_id = "lean-ops-console"\n'
        'client_secret = "test-client-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEAN_", "CONSOLE_"))}
    env.update(
        {
            "STREAMLIT_SERVER_PORT": str(port),
            "STREAMLIT_SERVER_HEADLESS": "true",
            "STREAMLIT_SECRETS_FILES": str(secrets),
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"sqlite:///{workdir / 'console.db'}",
            "LEAN_SANDBOX_PORT": "0",
            "CONSOLE_ADMINS": "lead@example.com",
            "CONSOLE_VIEWERS": "@example.org",
        }
    )
    log = workdir / "console.log"
    # localhost, not 127.0.0.1: the redirect URI registered with the provider names it.
    try:
        with running_console(env, log, host="localhost") as url:
            yield url
    finally:
        assert "test-client-secret" not in log.read_text()  # never logged


def sign_in(page: Any, url: str, subject: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Authorize Client").wait_for(timeout=30_000)
    page.get_by_placeholder("sub").fill(subject)
    page.get_by_role("button", name="Authorize", exact=True).click()


def sign_out(page: Any, button: Any) -> None:
    button.get_by_role("button", name="Sign out").click()
    # Streamlit ends the provider's session too; the mock asks to confirm, then sends us back.
    page.get_by_role("button", name="End session").click(timeout=30_000)
    page.get_by_text("Sign in with your company account").wait_for(timeout=30_000)


def test_sign_in_roles_refusal_and_sign_out(
    signed_console: str, browser: Any, tmp_path: Path
) -> None:
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(signed_console)
    page.get_by_text("Sign in with your company account").wait_for(timeout=30_000)
    assert page.get_by_test_id("stSidebarNav").count() == 0  # no screens before sign-in
    page.screenshot(path=str(shots / "sign-in.png"), full_page=True)

    sign_in(page, signed_console, "lead@example.com")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Signed in as").wait_for(timeout=30_000)
    assert "lead@example.com" in sidebar.inner_text() and "admin" in sidebar.inner_text()
    page.screenshot(path=str(shots / "signed-in-admin.png"), full_page=True)
    sign_out(page, sidebar)

    sign_in(page, signed_console, "pat@example.org")
    sidebar.get_by_text("Signed in as").wait_for(timeout=30_000)
    assert "viewer" in sidebar.inner_text()
    sign_out(page, sidebar)

    sign_in(page, signed_console, "eve@elsewhere.io")
    page.get_by_role("heading", name="No access").wait_for(timeout=30_000)
    assert "no role is configured" in page.inner_text("body")
    assert page.get_by_test_id("stSidebarNav").count() == 0
    page.screenshot(path=str(shots / "refused.png"), full_page=True)
    sign_out(page, page)
    context.close()
