"""A screen a role may not use, typed into the address bar: the browser shows which role it needs
and who to ask (never Streamlit's "Page not found"), and the screen is not in the menu."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, running_console
from tests.ports import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def viewer_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The console as `make run` starts it, for a viewer behind a sign-in proxy."""
    workdir: Path = tmp_path_factory.mktemp("viewer")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEAN_", "CONSOLE_"))}
    env.update(
        {
            "STREAMLIT_SERVER_PORT": str(free_port()),
            "STREAMLIT_SERVER_HEADLESS": "true",
            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"sqlite:///{workdir / 'console.db'}",
            "CONSOLE_BEHIND_SIGN_IN": "true",
            "CONSOLE_DEFAULT_ROLE": "viewer",
        }
    )
    with running_console(env, workdir / "console.log") as url:
        yield url


@pytest.mark.parametrize(
    ("path", "needs"), [("audit", "see the audit log"), ("requests", "see the request log")]
)
def test_a_hidden_screen_says_which_role_it_needs(
    viewer_console: str, browser: Any, path: str, needs: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{viewer_console}/{path}")
        page.get_by_text("Not available to your role").wait_for(timeout=30_000)
        body = page.inner_text("body")
        assert f"cannot {needs}: it needs admin" in body and "Ask an admin" in body
        assert "Page not found" not in body
        # Not in the menu: the sidebar names no admin screen.
        sidebar = page.inner_text("[data-testid='stSidebarNav']")
        assert "Audit log" not in sidebar and "Request log" not in sidebar
        assert "Triage" in sidebar
    finally:
        page.close()
