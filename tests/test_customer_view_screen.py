"""The Customers screen's customer view, kept warm for every session of the process until a webhook
about the customer arrives (through any receiver sharing the database); and one Lean token per
scope per process, however many sessions and page views, renewed once before it expires."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console import audit, ui_customers
from console.customer_view import fetch_customer_view
from console.customers import CustomerQuery
from console.last_good import last_good
from console.runtime import get_backend
from console.store import EventStore
from console.webhooks import ReceiverConfig
from lean_api import LeanClient, LeanSettings
from lean_api.models import Customer
from sandbox.app import SandboxConfig
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from tests.conftest import point_console_at_sandbox
from tests.receivers import SECRET, Receiver, event
from tests.wide_customer import add_wide_customer

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def point_console_at(sandbox: SandboxServer, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    point_console_at_sandbox(sandbox, monkeypatch)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")


def view(customer_id: str) -> AppTest:
    """A new session opening the customer by deep link."""
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/customers.py")
    at.query_params["customer_id"] = customer_id
    return at.run()


def balances(at: AppTest) -> list[str]:
    assert not at.exception, at.exception
    table = next(df for df in at.dataframe if "Balance" in df.value.columns)
    return list(table.value["Balance"])


@pytest.fixture(scope="module")
def sandbox_env() -> Iterator[SandboxServer]:
    """A sandbox of this module's own: the wide customers it gets stay out of the shared one
    (whose first customer with two connections other tests pick)."""
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture
def wide(sandbox_env: SandboxServer) -> Iterator[Customer]:
    setup = LeanClient(LeanSettings.from_env(sandbox_env.env(), dotenv_path=None))
    yield add_wide_customer(sandbox_env, setup, f"wide_screen_{time.monotonic_ns()}")
    setup.close()


@pytest.fixture
def receiver_elsewhere(
    sandbox_env: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Receiver]:
    """The console on a SQLite file, pointed at this module's sandbox, and a receiver of its
    own (as another process would be) storing into the same file."""
    db = tmp_path / "console.db"
    point_console_at(sandbox_env, db, monkeypatch)
    st.cache_data.clear()
    last_good().clear()
    store = EventStore(f"sqlite:///{db}")
    store.migrate()
    served = Receiver(store, ReceiverConfig(secret=SECRET))
    yield served
    served.server.stop()
    store.dispose()


def test_customer_view_shows_every_account_with_its_balance(
    receiver_elsewhere: Receiver, wide: Customer
) -> None:
    at = view(wide.customer_id)
    shown = balances(at)
    assert len(shown) == 20 and all(b.endswith("in credit") or "debit" in b for b in shown)
    assert "**Accounts** · 20 at 5 bank connections" in " ".join(m.value for m in at.markdown)


def test_warm_view_asks_lean_nothing_until_a_webhook_says_the_customer_changed(
    receiver_elsewhere: Receiver, sandbox_env: SandboxServer, wide: Customer
) -> None:
    before = balances(view(wide.customer_id))
    entity = sandbox_env.state.data.entities_by_customer[wide.customer_id][0]
    with sandbox_env.state.lock:
        entity.accounts[0].balance += Decimal("500.00")

    requests_before = sandbox_env.state.stats["requests"]
    assert balances(view(wide.customer_id)) == before  # warm: another session, same answer
    assert sandbox_env.state.stats["requests"] == requests_before  # …without asking Lean

    answer = receiver_elsewhere.post(
        event("ev-screen-1", "entity.updated", id=entity.entity_id, customer_id=wide.customer_id)
    )
    assert answer.status_code == 200
    after = balances(view(wide.customer_id))
    assert after != before and "1,500.00 SAR in credit" in after
    assert sandbox_env.state.stats["requests"] > requests_before


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def open_by(kind: str, value: str) -> AppTest:
    """A new session opening the customer by deep link, by either lookup."""
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/customers.py")
    at.query_params[kind] = value
    return at.run()


def test_reload_asks_lean_again_for_every_session_and_both_lookups(
    receiver_elsewhere: Receiver,
    sandbox_env: SandboxServer,
    wide: Customer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at = view(wide.customer_id)
    before = balances(at)
    assert re.search(r"From Lean at \d\d:\d\d:\d\d UTC \(a moment ago\)\.", captions(at))
    requests_before = sandbox_env.state.stats["requests"]
    at.button(key="customer_reload").click().run()  # a view Lean has just given: not again
    assert "this is its latest answer" in " ".join(t.value for t in at.toast)
    assert sandbox_env.state.stats["requests"] == requests_before
    by_name = open_by("app_user_id", wide.app_user_id)
    assert balances(by_name) == before

    entity = sandbox_env.state.data.entities_by_customer[wide.customer_id][1]
    with sandbox_env.state.lock:
        entity.accounts[0].balance = Decimal("-7.00")
    assert balances(at.run()) == before  # warm: no webhook said anything

    monkeypatch.setattr(ui_customers, "RELOAD_AFTER_SECONDS", 0)
    requests_before = sandbox_env.state.stats["requests"]
    at.run().button(key="customer_reload").click().run()
    assert "7.00 SAR overdrawn (debit)" in balances(at)
    assert sandbox_env.state.stats["requests"] > requests_before
    # Only the reload that asked Lean is in the audit log (the one refused above is not).
    (line,) = audit.search(receiver_elsewhere.store, action="reload_customer")
    assert (line.subject_kind, line.subject, line.outcome) == ("customer", wide.customer_id, "ok")
    # A new session by the same lookup reads the reloaded view without asking Lean...
    requests_before = sandbox_env.state.stats["requests"]
    assert "7.00 SAR overdrawn (debit)" in balances(view(wide.customer_id))
    assert sandbox_env.state.stats["requests"] == requests_before
    # ...and the session that found the customer by app_user_id asks Lean on its next run.
    assert "7.00 SAR overdrawn (debit)" in balances(by_name.run())
    assert sandbox_env.state.stats["requests"] > requests_before


def test_a_refresh_webhook_naming_only_the_entity_makes_the_next_view_fresh(
    receiver_elsewhere: Receiver, sandbox_env: SandboxServer, wide: Customer
) -> None:
    before = balances(view(wide.customer_id))
    entity = sandbox_env.state.data.entities_by_customer[wide.customer_id][-1]
    with sandbox_env.state.lock:
        entity.accounts[-1].balance = Decimal("-42.00")
    assert balances(view(wide.customer_id)) == before
    receiver_elsewhere.post(
        event("ev-screen-2", "entity.data.refresh.updated", refresh_id="r-screen",
              entity_id=entity.entity_id, status="FINISHED")
    )  # fmt: skip
    assert "42.00 SAR overdrawn (debit)" in balances(view(wide.customer_id))


def test_an_event_about_another_customer_keeps_the_view_warm(
    receiver_elsewhere: Receiver, sandbox_env: SandboxServer, wide: Customer
) -> None:
    balances(view(wide.customer_id))
    receiver_elsewhere.post(
        event("ev-screen-3", "entity.updated", id="e-other", customer_id="someone-else")
    )
    requests_before = sandbox_env.state.stats["requests"]
    balances(view(wide.customer_id))
    assert sandbox_env.state.stats["requests"] == requests_before


# ---------------------------------------------------------------------------------------------
# Tokens: one per scope per process
# ---------------------------------------------------------------------------------------------


def drive(
    customer_ids: list[str], until: float, *, threads: int = 3, sessions: int = 3
) -> list[BaseException]:
    """Threads loading customer views through the process's shared client until `until`, then
    `sessions` new AppTest sessions opening the Customers screen; the errors the threads met.

    (The sessions run after the threads: Python 3.11's compiler is not safe to run while other
    threads build ASTs, and AppTest compiles the app's scripts.)"""
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        client = get_backend().client
        while time.monotonic() < until:
            try:
                fetch_customer_view(
                    client, CustomerQuery("customer_id", customer_ids[n % len(customer_ids)])
                )
            except BaseException as exc:  # reported to the test
                errors.append(exc)
                return

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    for session in range(sessions):
        st.cache_data.clear()  # every session's view asks Lean again
        balances(view(customer_ids[session % len(customer_ids)]))
    return errors


@pytest.fixture
def own_sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(token_ttl=request.param)) as server:
        yield server


@pytest.mark.parametrize("own_sandbox", [3599], indirect=True)
def test_one_token_per_process_whatever_the_sessions_and_page_views(
    own_sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_console_at(own_sandbox, tmp_path / "console.db", monkeypatch)
    setup = LeanClient(get_backend().settings)
    customers = [
        add_wide_customer(own_sandbox, setup, f"token_{n}", entities=2, accounts=2)
        for n in range(3)
    ]
    setup.close()
    issued_for_setup = own_sandbox.state.stats["tokens_issued.api"]
    requests_before = own_sandbox.state.stats["requests"]

    errors = drive([c.customer_id for c in customers], time.monotonic() + 1.5)

    assert errors == []
    assert own_sandbox.state.stats["requests"] - requests_before > 50  # many calls were made
    assert own_sandbox.state.stats["tokens_issued.api"] - issued_for_setup == 1
    assert own_sandbox.state.stats["errors.UNAUTHORIZED"] == 0


@pytest.mark.parametrize("own_sandbox", [6], indirect=True)
def test_the_token_is_renewed_once_before_it_expires(
    own_sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six-second tokens renew at 90% of their life: over 7.2 s of steady use from several
    threads, one token then exactly one renewal (the next is due after 10.8 s at the
    earliest), and no call ever went out with an expired token (no 401 from the sandbox).

    The 0.6 s margin is what a call has between the client's check and the sandbox's under
    this load; four-second tokens (0.4 s) were late in a loaded CI run."""
    point_console_at(own_sandbox, tmp_path / "console.db", monkeypatch)
    setup = LeanClient(get_backend().settings)
    customer = add_wide_customer(own_sandbox, setup, "renewal", entities=2, accounts=2)
    setup.close()
    issued_for_setup = own_sandbox.state.stats["tokens_issued.api"]
    start = time.monotonic()
    get_backend().client.get_customer(customer.customer_id)  # the process's first token

    errors = drive([customer.customer_id], start + 7.2, sessions=0)

    assert errors == []
    assert own_sandbox.state.stats["tokens_issued.api"] - issued_for_setup == 2
    assert own_sandbox.state.stats["errors.UNAUTHORIZED"] == 0


def test_without_the_database_the_view_still_loads_and_stays_warm_briefly(
    sandbox_env: SandboxServer, wide: Customer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_console_at(sandbox_env, tmp_path / "no-such-dir" / "console.db", monkeypatch)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'deeper' / 'x.db'}")
    st.cache_data.clear()
    shown = balances(view(wide.customer_id))
    assert len(shown) == 20
    requests_before = sandbox_env.state.stats["requests"]
    assert balances(view(wide.customer_id)) == shown
    assert sandbox_env.state.stats["requests"] == requests_before  # warm for its 30 s


def test_balances_lean_refuses_are_said_literally_and_the_rest_is_shown(
    receiver_elsewhere: Receiver, sandbox_env: SandboxServer, wide: Customer
) -> None:
    sandbox_env.faults.set(
        FaultConfig(error_rate=1.0, error_status=400, error_code="INVALID_PARAMETERS",
                    error_message="**bold** <b>html</b> [link](http://evil.example)",
                    path_prefix="/data/v2/accounts/")
    )  # fmt: skip
    try:
        at = view(wide.customer_id)
    finally:
        sandbox_env.faults.set(FaultConfig())
    assert set(balances(at)) == {"not loaded"}
    warning = " ".join(str(w.value) for w in at.warning)
    assert "Lean did not give every part of this view" in warning
    assert "…and 15 more." in warning
    # Lean's words are in code spans, never Markdown or HTML of their own.
    lines = warning.split("  \n")
    assert all(
        line.startswith("` balances of account") and line.endswith(" `") for line in lines[1:-1]
    )
    assert "[link](http://evil.example)" in lines[1]
