"""Every page, as every role: the navigation shows exactly the pages the role may use, each page
renders without an exception, controls the role cannot use are absent, and a viewer sees no
customer's personal data in anything rendered.

The pages come from app.py itself (its `st.Page(...)` calls, and the `actor.may(...)` that guards
some of them), so a page added there is walked without touching this file.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from google.protobuf import text_format
from streamlit.testing.v1 import AppTest

from console.access import NEEDS, Role
from console.last_good import last_good
from console.store import EventStore
from sandbox.server import SandboxServer
from tests.test_account_data_screen import entities

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
# Controls (button, tab or toggle labels) and the action each one needs.
CONTROLS = {
    "Create customer": "create_customer",
    "Sync now": "sync_book",
    "Refresh data now": "trigger_refresh",
    "Verify ownership": "verify_ownership",
    "Reveal": "reveal",
    "Reveal a row": "reveal",
    "Replay": "replay_webhook",
    "Replay this event": "replay_webhook",
    "Reprocess": "reprocess_dead_letter",
    "Rejected deliveries": "see_rejections",
    "Rejected": "see_rejections",
    "Audit log": "see_audit_log",
    "Request log": "see_request_log",
}


@dataclass(frozen=True)
class NavPage:
    """A page app.py declares, and the action its navigation entry needs (None: everyone)."""

    path: str
    needs: str | None


def declared_pages() -> list[NavPage]:
    """Every `st.Page("pages/…")` in app.py, with the `actor.may("…")` that guards it, if any."""
    tree = ast.parse(Path(APP).read_text())
    found: dict[str, str | None] = {}

    def visit(node: ast.AST, needs: str | None) -> None:
        if isinstance(node, ast.If):
            test = node.test
            if (
                isinstance(test, ast.Call)
                and isinstance(test.func, ast.Attribute)
                and test.func.attr == "may"
                and test.args
                and isinstance(test.args[0], ast.Constant)
            ):
                for child in node.body:
                    visit(child, str(test.args[0].value))
                for child in node.orelse:
                    visit(child, needs)
                return
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "Page"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.setdefault(str(node.args[0].value), needs)
        for child in ast.iter_child_nodes(node):
            visit(child, needs)

    visit(tree, None)
    return [NavPage(path, needs) for path, needs in found.items()]


def allowed(role: Role, action: str | None) -> bool:
    return action is None or role >= NEEDS.get(action, Role.ADMIN)


def rendered_text(at: AppTest) -> str:
    """Everything a run put on the page: text of every element, and every table cell."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        value = getattr(node, "value", None) if not hasattr(node, "children") else None
        if isinstance(value, pd.DataFrame):
            parts.append(value.to_csv())
        elif getattr(node, "proto", None) is not None:
            parts.append(text_format.MessageToString(node.proto, as_utf8=True))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def control_labels(at: AppTest) -> set[str]:
    labels = {str(b.label) for b in at.button}
    labels |= {str(t.label) for t in at.tabs}
    labels |= {str(t.label) for t in at.toggle}
    labels |= {str(b.label) for b in at.get("download_button")}
    labels |= {str(p.proto.popover.label) for p in at.get("popover")}
    return labels


def personal_data(sandbox: SandboxServer) -> dict[str, str]:
    """Every seeded customer's names, national ID, e-mail, phone, and every account's IBAN."""
    secrets: dict[str, str] = {}
    for customer in sandbox.state.data.customers.values():
        person = customer.person
        for kind, value in (
            ("name", person.name_en), ("Arabic name", person.name_ar),
            ("national ID", person.national_id), ("e-mail", person.email),
            ("phone", person.mobile), ("phone", person.mobile.lstrip("+")),
        ):  # fmt: skip
            secrets[value] = kind
    for entity in sandbox.state.data.entities.values():
        for account in entity.accounts:
            secrets[account.iban] = "IBAN"
    return secrets


@pytest.fixture
def console(
    tmp_path: Path, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    url = f"sqlite:///{tmp_path / 'walk.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    EventStore(url).migrate()
    st.cache_data.clear()
    last_good().clear()
    yield
    last_good().clear()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.SUPPORT, Role.ADMIN], ids=lambda r: r.word)
def test_every_page_as_every_role(
    role: Role, console: None, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSOLE_DEFAULT_ROLE", role.word)
    declared = declared_pages()
    assert {"pages/overview.py", "pages/account_data.py", "pages/audit.py"} <= {
        p.path for p in declared
    }
    entity = entities(sandbox_env)[0]
    secrets = personal_data(sandbox_env)

    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    # Hidden refusals (a screen's address for a role that may not use it) have no script.
    nav = {
        str(Path(info["script_path"]).relative_to(ROOT))
        for info in at._registered_pages.values()
        if info.get("script_path")
    }
    expected = {p.path for p in declared if allowed(role, p.needs)}
    problems: list[str] = []
    if nav != expected:
        problems.append(
            f"navigation: shows {sorted(nav - expected)} it should not, "
            f"misses {sorted(expected - nav)}"
        )

    for page in sorted(expected & nav):
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.switch_page(page)
        # Every page gets a real bank connection to show, where it takes one.
        at.query_params["entity_id"] = entity.entity_id
        at.query_params["customer_id"] = entity.customer_id
        try:
            at = at.run()
        except Exception as exc:  # a page that does not finish within the timeout
            problems.append(f"{page}: did not render ({type(exc).__name__}: {exc})")
            continue
        if at.exception:
            problems.append(f"{page}: exception {at.exception[0].message[:200]}")
            continue
        forbidden = {
            label
            for label in control_labels(at)
            if label in CONTROLS and not allowed(role, CONTROLS[label])
        }
        if forbidden:
            problems.append(f"{page}: shows {sorted(forbidden)} to a {role.word}")
        if page == "pages/account_data.py":
            # The walk really sees the data: the owner's masked national ID, and the per-row
            # reveal exactly for the roles that may reveal.
            owner = sandbox_env.state.data.customers[entity.customer_id].person
            if f"•••• •••• {owner.national_id[-2:]}" not in rendered_text(at):
                problems.append(f"{page}: the identity was not shown to a {role.word}")
            if ("Reveal a row" in control_labels(at)) != allowed(role, "reveal"):
                problems.append(f"{page}: per-row reveal offered wrongly to a {role.word}")
        if role is Role.VIEWER:
            text = rendered_text(at)
            leaked = sorted({kind for value, kind in secrets.items() if value and value in text})
            if leaked:
                problems.append(f"{page}: shows unmasked {', '.join(leaked)} to a viewer")

    # Pages the role may not use are not reachable by their address either.
    for page in sorted({p.path for p in declared} - expected):
        at = AppTest.from_file(APP, default_timeout=60).run()
        try:
            at.switch_page(page).run()
        except Exception:
            continue  # not in this role's navigation: Streamlit cannot switch to it
        if not at.exception and not at.error:
            problems.append(f"{page}: reachable by a {role.word} by its address")

    assert not problems, "\n".join(problems)
