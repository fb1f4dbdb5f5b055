"""The Customers screen in Streamlit's AppTest, against the sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console.last_good import last_good
from sandbox.faults import FaultConfig
from sandbox.seed import SeedCustomer
from sandbox.server import SandboxServer

APP = str(Path(__file__).resolve().parents[1] / "app.py")
UNKNOWN_UUID = "00000000-0000-4000-8000-0000000000aa"


@pytest.fixture
def screen(sandbox_env: SandboxServer) -> Iterator[AppTest]:
    """The console on the Customers page, with empty caches."""
    st.cache_data.clear()
    last_good().clear()  # no last good data from other tests
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/customers.py")
    yield at


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def lookup(at: AppTest, kind: str, value: str) -> AppTest:
    at.run()
    at.selectbox(key="lookup_kind").set_value(kind)
    at.text_input(key="lookup_value").set_value(value)
    return next(b for b in at.button if b.label == "Find").click().run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_deep_link_opens_the_customer(
    screen: AppTest, some_customer_with_entities: SeedCustomer, sandbox: SandboxServer
) -> None:
    screen.query_params["customer_id"] = some_customer_with_entities.customer_id
    screen.run()
    assert not screen.exception
    assert some_customer_with_entities.app_user_id in texts(screen.subheader)
    entities = sandbox.state.data.entities_by_customer[some_customer_with_entities.customer_id]
    assert metric(screen, "Connected banks") == str(len(entities))
    table = screen.dataframe[0].value
    assert set(table["Entity ID"]) == {e.entity_id for e in entities}


def test_deep_link_by_app_user_id(
    screen: AppTest, some_customer_with_entities: SeedCustomer
) -> None:
    screen.query_params["app_user_id"] = some_customer_with_entities.app_user_id
    screen.run()
    assert some_customer_with_entities.customer_id in texts(screen.code)


def test_found_through_the_form_and_linked_in_the_url(
    screen: AppTest, some_customer_with_entities: SeedCustomer
) -> None:
    at = lookup(screen, "app_user_id", some_customer_with_entities.app_user_id)
    assert not at.exception and not at.error
    assert some_customer_with_entities.customer_id in texts(at.code)
    assert at.query_params.get("app_user_id") == some_customer_with_entities.app_user_id


def test_find_by_either_guesses_the_kind_from_the_text(
    screen: AppTest, some_customer_with_entities: SeedCustomer
) -> None:
    screen.run()
    assert screen.selectbox(key="lookup_kind").value == "either"  # the default
    at = lookup(screen, "either", some_customer_with_entities.app_user_id)
    assert not at.exception and not at.error
    assert at.query_params.get("app_user_id") == some_customer_with_entities.app_user_id
    assert some_customer_with_entities.customer_id in texts(at.code)
    at = lookup(at, "either", some_customer_with_entities.customer_id.upper())
    assert at.query_params.get("customer_id") == some_customer_with_entities.customer_id
    assert some_customer_with_entities.customer_id in texts(at.code)
    # A UUID Lean does not know as a customer_id may be an app_user_id: the screen says how.
    at = lookup(at, "either", UNKNOWN_UUID)
    assert "Lean has no such customer" in texts(at.warning)
    assert "choose “app_user_id” in *Find by*" in texts(at.info)


def test_unknown_customer_is_a_clear_warning(screen: AppTest) -> None:
    at = lookup(screen, "customer_id", UNKNOWN_UUID)
    warning = texts(at.warning)
    assert "Lean has no such customer" in warning
    assert "HTTP 404" in warning and "UNKNOWN_CUSTOMER" in warning and "results_id" in warning


def test_malformed_customer_id_is_refused_without_a_request(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    screen.run()
    sandbox.state.request_log.clear()
    at = lookup(screen, "customer_id", "12345-not-a-uuid")
    assert "is not a customer_id" in texts(at.error)
    assert "choose “app_user_id” in *Find by*" in texts(at.info)
    assert not any("12345-not-a-uuid" in path for _, path in sandbox.state.request_log)


def test_a_refused_lookup_leaves_no_customer_in_the_link(
    screen: AppTest, some_customer_with_entities: SeedCustomer
) -> None:
    at = lookup(screen, "app_user_id", some_customer_with_entities.app_user_id)
    assert at.query_params.get("app_user_id") == some_customer_with_entities.app_user_id
    at = lookup(at, "customer_id", "12345-not-a-uuid")
    assert "is not a customer_id" in texts(at.error)
    assert not at.subheader  # the customer before is no longer shown…
    assert (
        "app_user_id" not in at.query_params and "customer_id" not in at.query_params
    )  # …nor linked


def test_malformed_deep_link_is_reported(screen: AppTest) -> None:
    screen.query_params["customer_id"] = "nope"
    screen.run()
    assert "invalid customer_id" in texts(screen.error)


def test_empty_app_user_id_is_refused(screen: AppTest) -> None:
    at = lookup(screen, "app_user_id", "  ")
    assert "Enter an app_user_id" in texts(at.error)


def test_uuid_searched_as_app_user_id_suggests_customer_id(screen: AppTest) -> None:
    at = lookup(screen, "app_user_id", UNKNOWN_UUID)
    assert "Lean has no such customer" in texts(at.warning)
    assert "looks like a customer_id" in texts(at.info)


def create(at: AppTest, app_user_id: str) -> AppTest:
    at.run()
    at.text_input(key="create_app_user_id").set_value(app_user_id)
    return next(b for b in at.button if b.label == "Create customer").click().run()


def test_create_customer(screen: AppTest, sandbox: SandboxServer) -> None:
    at = create(screen, "apptest_new_user_01")
    assert not at.exception
    created = sandbox.state.data.by_app_user_id["apptest_new_user_01"]
    assert created.customer_id in texts(at.success)


def test_the_new_customer_opens_by_its_link_and_stays_open(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    at = create(screen, "apptest_new_user_02")
    created = sandbox.state.data.by_app_user_id["apptest_new_user_02"]
    at.button(key="create_open_new").click().run()
    assert not at.exception
    assert at.query_params["customer_id"] == created.customer_id  # in the URL: a ticket link
    assert "apptest_new_user_02" in texts(at.subheader)
    assert at.text_input(key="lookup_value").value == created.customer_id  # the box follows
    at.run()  # any later run (a row selected, Reload) keeps the customer
    assert "apptest_new_user_02" in texts(at.subheader)


def test_an_existing_app_user_id_opens_that_customer(
    screen: AppTest, sandbox: SandboxServer
) -> None:
    existing = next(iter(sandbox.state.data.customers.values()))
    at = create(screen, existing.app_user_id)
    at.button(key="create_open_existing").click().run()
    assert at.query_params["app_user_id"] == existing.app_user_id
    assert existing.customer_id in texts(at.code)
    assert existing.customer_id in texts(at.run().code)


def test_duplicate_app_user_id_says_it_exists(screen: AppTest, sandbox: SandboxServer) -> None:
    existing = next(iter(sandbox.state.data.customers.values())).app_user_id
    before = len(sandbox.state.data.customers)
    at = create(screen, existing)
    warning = texts(at.warning)
    assert "already exists" in warning and "CUSTOMER_ALREADY_EXISTS" in warning
    assert len(sandbox.state.data.customers) == before


def test_sandbox_fault_becomes_an_operator_message(
    screen: AppTest, sandbox: SandboxServer, some_customer_with_entities: SeedCustomer
) -> None:
    screen.run()
    sandbox.faults.set(
        FaultConfig(
            error_rate=1.0, error_code="INTERNAL_SERVER_ERROR", path_prefix="/customers/v1/"
        )
    )
    at = lookup(screen, "customer_id", some_customer_with_entities.customer_id)
    assert not at.exception
    message = texts(at.error)
    assert "Lean had an internal error" in message
    assert "INTERNAL_SERVER_ERROR" in message and "results_id" in message


def test_browse_pages_through_customers(screen: AppTest, sandbox: SandboxServer) -> None:
    screen.run()
    first = list(screen.dataframe[0].value["customer_id"])
    at = next(b for b in screen.button if b.label == "Next ▶").click().run()
    second = list(at.dataframe[0].value["customer_id"])
    assert len(first) == len(second) == 25
    assert not set(first) & set(second)
    assert "Page 2 of" in texts(at.markdown)


def test_search_filters_customers(screen: AppTest) -> None:
    screen.run()
    screen.text_input(key="browse_search").set_value("usr_11").run()
    ids = list(screen.dataframe[0].value["app_user_id"])
    assert ids and all("usr_11" in i for i in ids)


@pytest.mark.parametrize("kind", ["app_user_id", "customer_id"])
def test_the_overviews_box_opens_the_customer_by_the_kind_it_guesses(
    sandbox_env: SandboxServer, some_customer_with_entities: SeedCustomer, kind: str
) -> None:
    st.cache_data.clear()
    last_good().clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    value = getattr(some_customer_with_entities, kind)
    box = next(t for t in at.text_input if t.label == "customer_id or app_user_id")
    box.set_value(f" {value.upper() if kind == 'customer_id' else value} ")
    at = next(b for b in at.button if b.label == "Find").click().run()
    assert not at.exception and not at.error
    assert at.query_params.get(kind) == value
    assert some_customer_with_entities.customer_id in texts(at.code)
