"""Screens keep the last good data, with its age, when Lean fails after a first success (AppTest)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console import audit, ui_customers
from console.last_good import last_good
from console.runtime import get_backend
from console.store import EventStore
from sandbox.faults import FaultConfig
from sandbox.seed import SeedCustomer
from sandbox.server import SandboxServer

APP = str(Path(__file__).resolve().parents[1] / "app.py")
# Lean refusing the customer calls for two minutes.
LEAN_RATE_LIMITS_CUSTOMERS = FaultConfig(
    error_rate=1.0,
    error_status=429,
    error_code="TOO_MANY_REQUESTS",
    retry_after=120,
    path_prefix="/customers",
)


@pytest.fixture
def console(sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The console with a 2 s budget per Lean call, empty caches and nothing kept."""
    monkeypatch.setenv("LEAN_CALL_BUDGET_SECONDS", "2")
    st.cache_data.clear()
    last_good().clear()
    yield AppTest.from_file(APP, default_timeout=30)
    last_good().clear()


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def backdate(asked: object, minutes: int) -> None:
    """Make the kept answer to `asked` look `minutes` older, as if fetched a while ago."""
    keeper, key = last_good(), get_backend().key
    kept = keeper.last(key, asked)
    assert kept is not None
    keeper.clear()
    keeper.remember(
        key, asked, replace(kept, fetched_at=kept.fetched_at - timedelta(minutes=minutes))
    )


def open_customer(console: AppTest, customer: SeedCustomer) -> AppTest:
    console.run()
    console.switch_page("pages/customers.py")
    console.query_params["customer_id"] = customer.customer_id
    return console.run()


def test_customer_screen_keeps_the_last_good_customer_with_its_age(
    console: AppTest, sandbox: SandboxServer, some_customer_with_entities: SeedCustomer
) -> None:
    at = open_customer(console, some_customer_with_entities)
    assert some_customer_with_entities.app_user_id in texts(at.subheader)
    assert not at.warning
    backdate(("customer", "customer_id", some_customer_with_entities.customer_id), minutes=4)

    st.cache_data.clear()  # the cached answer expires...
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/customers"))  # ...and Lean fails
    at.run()

    assert not at.exception
    assert some_customer_with_entities.app_user_id in texts(at.subheader)
    assert some_customer_with_entities.customer_id in texts(at.code)
    notices = texts(at.warning)
    assert "Lean could not answer; showing the customer from 4 min ago." in notices
    assert "Lean had an internal error" in texts(at.error)


def test_customer_screen_says_when_lean_rate_limits(
    console: AppTest, sandbox: SandboxServer, some_customer_with_entities: SeedCustomer
) -> None:
    at = open_customer(console, some_customer_with_entities)
    st.cache_data.clear()
    sandbox.faults.set(LEAN_RATE_LIMITS_CUSTOMERS)
    at.run()

    assert not at.exception
    assert some_customer_with_entities.app_user_id in texts(at.subheader)
    notices = texts(at.warning)
    assert "Lean is rate-limiting; try again in 120 s." in notices
    assert "Lean is rate-limiting; showing the customer from" in notices


def test_overview_keeps_bank_availability_when_lean_hangs(
    console: AppTest, sandbox: SandboxServer
) -> None:
    at = console.run()
    assert any(m.label == "Banks available for data" for m in at.metric)
    st.cache_data.clear()
    sandbox.faults.set(FaultConfig(hang_seconds=3.0, path_prefix="/banks"))
    at.run()

    assert not at.exception
    assert any(m.label == "Banks available for data" for m in at.metric)
    assert "Lean did not answer; showing the bank list from" in texts(at.warning)
    assert "Lean did not answer within the 2 s budget." in texts(at.error)


def test_a_first_failure_has_no_old_data_to_show(
    console: AppTest, sandbox: SandboxServer, some_customer_with_entities: SeedCustomer
) -> None:
    console.run()
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/customers"))
    at = open_customer(console, some_customer_with_entities)
    assert not at.subheader
    assert "; showing " not in texts(at.warning)
    assert "Lean had an internal error" in texts(at.error)


def test_reload_while_lean_fails_keeps_the_customer_for_everyone(
    db: EventStore,
    console: AppTest,
    sandbox: SandboxServer,
    some_customer_with_entities: SeedCustomer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at = open_customer(console, some_customer_with_entities)
    assert "From Lean at " in texts(at.caption)
    monkeypatch.setattr(ui_customers, "RELOAD_AFTER_SECONDS", 0)
    sandbox.faults.set(FaultConfig(error_rate=1.0, path_prefix="/customers"))
    at.run().button(key="customer_reload").click().run()

    assert not at.exception
    assert some_customer_with_entities.app_user_id in texts(at.subheader)
    assert "Lean could not answer; showing the customer from" in texts(at.warning)
    assert "Lean had an internal error" in texts(at.error)
    (line,) = audit.search(db, action="reload_customer")
    assert (line.subject, line.outcome) == (some_customer_with_entities.customer_id, "failed")
    assert (line.detail or "").startswith("Lean 500 INTERNAL_SERVER_ERROR · results_id "), (
        line.detail
    )
    # The failed reload left the view every session reads as it was: another session opening
    # the customer is served it, without a warning and without asking Lean.
    requests_before = sandbox.state.stats["requests"]
    other = open_customer(AppTest.from_file(APP, default_timeout=30), some_customer_with_entities)
    assert some_customer_with_entities.app_user_id in texts(other.subheader)
    assert not other.warning and "From Lean at " in texts(other.caption)
    # What Lean was asked meanwhile, by any thread of this process: nothing of this customer's
    # (under load, a request of another thread was counted here once and failed the test).
    asked = list(sandbox.state.request_log)[
        len(sandbox.state.request_log) - (sandbox.state.stats["requests"] - requests_before) :
    ]
    customer = some_customer_with_entities
    of_customer = (customer.customer_id, customer.app_user_id, "/data/")
    assert not [path for _, path in asked if any(part in path for part in of_customer)], asked


def test_reload_is_not_offered_while_lean_rate_limits(
    console: AppTest, sandbox: SandboxServer, some_customer_with_entities: SeedCustomer
) -> None:
    at = open_customer(console, some_customer_with_entities)
    st.cache_data.clear()
    sandbox.faults.set(LEAN_RATE_LIMITS_CUSTOMERS)
    at.run()
    assert "Lean is rate-limiting; showing the customer from" in texts(at.warning)
    assert at.button(key="customer_reload").disabled
