"""What the Customers screen draws of a view: every status in words on a pill of its tone's colour, permissions short enough for 1280 px, and Arrow tables that hold the same rows as the view
(the screen hands them to Streamlit as they are, built once per view)."""

from __future__ import annotations

import pytest

from console.customer_view import (
    ACCOUNT_COLUMNS,
    ENTITY_COLUMNS,
    TONE_COLOURS,
    account_overview_rows,
    customer_screen,
    fetch_customer_view,
    permissions_short,
    tone_pills,
)
from console.customers import CustomerQuery, entity_table, summarize_customer
from lean_api import LeanClient
from lean_api.models import PERMISSIONS
from sandbox.seed import SeedCustomer
from sandbox.server import SandboxServer


@pytest.mark.parametrize(
    ("granted", "words"),
    [
        (PERMISSIONS, "9 of 9: all"),
        ((), "0 of 9: none"),
        ([p for p in PERMISSIONS if p != "identities"], "8 of 9: no identities"),
        (PERMISSIONS[:7], "7 of 9: 2 missing"),
        (("accounts",), "1 of 9: only accounts"),
        (("identity", "accounts"), "2 of 9: 7 missing"),
        ((*PERMISSIONS, "payments", "payments"), "9 of 9: all + 1 more"),
        (("<b>x</b>",), "0 of 9: none + 1 more"),
    ],
)
def test_permissions_are_said_in_few_words(granted: tuple[str, ...], words: str) -> None:
    assert permissions_short(granted) == words


def test_every_status_keeps_its_words_on_the_colour_of_its_tone() -> None:
    rows = [
        {"Status": "Active · ACTIVE"},
        {"Status": "Expires in 3 days · ACTIVE"},
        {"Status": "Down"},
        {"Status": "Something Lean made up"},
        {"Status": "Active · ACTIVE"},
        {"Status": ""},
        {"Status": None},
    ]
    tones = tone_pills(rows, "Status")
    assert [row["Status"] for row in rows] == [
        ["Active · ACTIVE"],
        ["Expires in 3 days · ACTIVE"],
        ["Down"],
        ["Something Lean made up"],
        ["Active · ACTIVE"],
        [],
        [],
    ]
    assert tones.options == (
        "Active · ACTIVE",
        "Expires in 3 days · ACTIVE",
        "Down",
        "Something Lean made up",
    )
    assert tones.colours == tuple(TONE_COLOURS[t] for t in ("good", "warn", "bad", "muted"))
    assert TONE_COLOURS["good"] == "#e6f4ea"  # the palette the other screens paint cells with


def test_the_screen_tables_hold_the_view_s_rows(
    client: LeanClient, some_customer_with_entities: SeedCustomer
) -> None:
    view = fetch_customer_view(
        client, CustomerQuery("customer_id", some_customer_with_entities.customer_id)
    )
    screen = customer_screen(view)
    entities = summarize_customer(view.customer, view.entities, view.banks).entities
    rows = entity_table(entities)
    assert screen.entities is not None and screen.accounts is not None
    assert screen.entities.column_names == list(ENTITY_COLUMNS)
    shown = screen.entities.to_pylist()
    assert [r["Entity ID"] for r in shown] == [r["Entity ID"] for r in rows] == screen.entity_ids
    for cell, row in zip(shown, rows, strict=True):
        assert cell["Consent"] == [row["Consent"]]
        assert cell["Bank available"] == [row["Bank available"]]
        assert cell["Permissions"].startswith(row["Permissions"].split(":")[0] + ":")
    accounts = account_overview_rows(view)
    assert screen.account_rows == len(accounts) == screen.accounts.num_rows
    assert screen.accounts.column_names == list(ACCOUNT_COLUMNS)
    assert screen.accounts.to_pylist() == [{c: a[c] for c in ACCOUNT_COLUMNS} for a in accounts]
    tones = screen.entity_tones["Consent"]
    assert set(tones.options) == {row["Consent"] for row in rows}
    assert len(tones.colours) == len(tones.options)
    # Every column an operator reads first is given a width that fits 1280 px.
    assert sum(screen.entity_widths[c] for c in ("Bank", "Consent", "Bank available")) < 600
    assert all(50 <= width <= 250 for width in screen.account_widths.values())


def test_a_customer_with_no_bank_connection_has_no_tables(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    created = client.create_customer(f"no_banks_{id(client)}")
    view = fetch_customer_view(client, CustomerQuery("customer_id", created.customer_id))
    screen = customer_screen(view)
    assert screen.entities is None and screen.accounts is None and screen.entity_ids == []
    assert screen.account_rows == 0 and screen.view is view
