"""The Customers screen's bank connections (issue 7, section 2), in AppTest against the sandbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from console.last_good import last_good
from sandbox.seed import SeedCustomer
from sandbox.server import SandboxServer

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def screen(
    sandbox_env: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppTest]:
    """The console on the Customers page, with empty caches and an empty event store."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'customers.db'}")
    st.cache_data.clear()
    last_good().clear()
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page("pages/customers.py")
    yield at


@pytest.fixture
def both_banks_disabled(
    sandbox: SandboxServer, some_customer_with_entities: SeedCustomer
) -> Iterator[SeedCustomer]:
    """Lean switches off the customer's first bank, and we switch off the second."""
    entities = sandbox.state.data.entities_by_customer[some_customer_with_entities.customer_id]
    banks = sorted({e.bank.identifier for e in entities})
    saved = {b: {k: dict(v) for k, v in sandbox.state.bank_availability[b].items()} for b in banks}
    sandbox.state.bank_availability[banks[0]]["active"]["data"] = False
    for other in banks[1:]:
        sandbox.state.bank_availability[other]["enabled"]["data"] = False
    yield some_customer_with_entities
    for identifier, flags in saved.items():
        sandbox.state.bank_availability[identifier] = flags


def texts(elements: object) -> str:
    return " ".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def open_customer(at: AppTest, customer_id: str) -> AppTest:
    at.query_params["customer_id"] = customer_id
    return at.run()


def pill_words(cell: object) -> str:
    """A status cell's words: one pill, drawn on the colour of its tone."""
    (words,) = list(cell)  # type: ignore[call-overload]
    return str(words)


def test_table_speaks_in_words(screen: AppTest, some_customer_with_entities: SeedCustomer) -> None:
    at = open_customer(screen, some_customer_with_entities.customer_id)
    assert not at.exception
    table = at.dataframe[0].value
    for days in table["Days left"]:
        assert days and days != "None"
        assert re.fullmatch(
            r"\d+ days?|less than a day|expired (today|\d+ days? ago)|no expiry given|not active",
            days,
        )
    for consent in map(pill_words, table["Consent"]):
        assert " · " in consent and re.search(r"[a-z]", consent)  # words, then Lean's code
    for permissions in table["Permissions"]:
        assert re.fullmatch(r"\d of 9: .+", permissions)
    assert set(map(pill_words, table["Bank available"])) <= {
        "Available",
        "Disabled by Lean",
        "Disabled by us (portal)",
        "Unknown",
    }


def test_summary_agrees_with_the_table_when_banks_are_disabled(
    screen: AppTest, both_banks_disabled: SeedCustomer
) -> None:
    at = open_customer(screen, both_banks_disabled.customer_id)
    assert not at.exception
    table = at.dataframe[0].value
    banks = set(map(pill_words, table["Bank available"]))
    assert banks == {"Disabled by Lean", "Disabled by us (portal)"}
    assert set(table["Needs attention"]) == {"Yes"}
    assert metric(at, "Need attention") == str(len(table))


def test_bank_row_opens_the_entity(
    screen: AppTest, some_customer_with_entities: SeedCustomer, sandbox: SandboxServer
) -> None:
    at = open_customer(screen, some_customer_with_entities.customer_id)
    table = at.dataframe[0].value
    at.session_state["customer_entities"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    entity_id = table["Entity ID"].iloc[1]
    assert at.query_params["entity_id"] == entity_id
    assert at.query_params["customer_id"] == some_customer_with_entities.customer_id
    assert "Bank connection" in texts(at.title)
    assert entity_id in texts(at.code)
    bank = sandbox.state.data.entities[entity_id].bank
    assert bank.name in texts(at.subheader)


def test_links_to_the_customers_webhooks_and_a_full_ticket_url(
    screen: AppTest, some_customer_with_entities: SeedCustomer
) -> None:
    customer_id = some_customer_with_entities.customer_id
    at = open_customer(screen, customer_id)
    links = [link for link in at.get("page_link") if "webhooks" in link.proto.page]
    assert links and links[0].proto.query_string == f"customer_id={customer_id}"
    caption = texts(at.caption)
    assert re.search(rf"https?://[^/\s`]+/customers\?customer_id={customer_id}", caption)


def test_coming_back_to_the_customer_does_not_reopen_the_entity(
    screen: AppTest, some_customer_with_entities: SeedCustomer
) -> None:
    customer_id = some_customer_with_entities.customer_id
    at = open_customer(screen, customer_id)
    at.session_state["customer_entities"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert "Bank connection" in texts(at.title)
    at.switch_page("pages/customers.py")
    at.query_params.clear()
    at.query_params["customer_id"] = customer_id
    at.run()
    assert "Customers" in texts(at.title)
    assert metric(at, "Connected banks")
