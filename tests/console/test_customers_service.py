"""Customer lookups: input is checked before any call; overviews and searches read the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.customers import (
    EntitySummary,
    InvalidLookup,
    bank_directory,
    consent_label,
    customer_overview,
    entity_table,
    fetch_customer,
    looks_like_uuid,
    parse_customer_query,
    search_customers,
    ticket_url,
)
from lean_api import LeanClient, NotFoundError
from lean_api.models import PERMISSIONS
from sandbox.seed import SeedCustomer
from sandbox.server import SandboxServer


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "f08fb010-878f-407a-9ac2",
        "f08fb010-878f-407a-9ac2-a7840fb56185-extra",
        "{f08fb010-878f-407a-9ac2-a7840fb56185}",
        "",
    ],
)
def test_malformed_customer_id_is_refused_before_any_call(raw: str) -> None:
    with pytest.raises(InvalidLookup):
        parse_customer_query("customer_id", raw)


def test_customer_id_is_normalised() -> None:
    query = parse_customer_query("customer_id", "  F08FB010-878F-407A-9AC2-A7840FB56185 ")
    assert query.value == "f08fb010-878f-407a-9ac2-a7840fb56185"


@pytest.mark.parametrize("raw", ["", "   ", "x" * 257, "bad\x00id", "line\nbreak"])
def test_invalid_app_user_id_is_refused(raw: str) -> None:
    with pytest.raises(InvalidLookup):
        parse_customer_query("app_user_id", raw)


def test_app_user_id_keeps_its_case_and_odd_characters() -> None:
    assert parse_customer_query("app_user_id", " Prod/Usr#1246 ").value == "Prod/Usr#1246"


def test_uuid_shape_detection() -> None:
    assert looks_like_uuid("f08fb010-878f-407a-9ac2-a7840fb56185")
    assert not looks_like_uuid("prod_usr_1246")


def test_overview_counts_match_the_entities(
    client: LeanClient, some_customer_with_entities: SeedCustomer, sandbox: SandboxServer
) -> None:
    query = parse_customer_query("app_user_id", some_customer_with_entities.app_user_id)
    customer = fetch_customer(client, query)
    overview = customer_overview(client, customer, bank_directory(client))
    seeded = sandbox.state.data.entities_by_customer[customer.customer_id]
    assert {e.entity_id for e in overview.entities} == {e.entity_id for e in seeded}
    assert overview.counts["entities"] == len(seeded)
    assert overview.counts["active"] >= 1
    rows = entity_table(overview.entities)
    assert all(row["Bank"] and row["Entity ID"] for row in rows)
    assert [e.connected_at for e in overview.entities] == sorted(
        (e.connected_at for e in overview.entities), reverse=True
    )


def test_unknown_customer_is_not_found(client: LeanClient) -> None:
    with pytest.raises(NotFoundError):
        fetch_customer(
            client, parse_customer_query("customer_id", "00000000-0000-4000-8000-000000000000")
        )


def test_search_finds_by_substring_and_reports_completeness(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    result = search_customers(client, "usr_10", page_size=50)
    assert result.complete and result.scanned == len(sandbox.state.data.customers)
    assert result.matches and all("usr_10" in (c.app_user_id or "") for c in result.matches)
    bounded = search_customers(client, "1", max_scan=30, page_size=10)
    assert not bounded.complete and bounded.scanned == 30


def summary(status: str, days: float) -> EntitySummary:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return EntitySummary(
        "e", "B", "Bank", now, status, now + timedelta(days=days), timedelta(days=days), 9, True
    )


def test_consent_labels_say_what_to_do() -> None:
    assert consent_label(summary("ACTIVE", 3)) == "Active · ACTIVE · expires in 3 d"
    assert consent_label(summary("ACTIVE", 0.25)) == "Active · ACTIVE · expires in 6 h"
    assert consent_label(summary("ACTIVE", 90)) == "Active · ACTIVE"
    assert consent_label(summary("REVOKED", 90)) == "Revoked by the customer · REVOKED"
    assert consent_label(summary("ON_HOLD", 90)) == "Not known to the console · ON_HOLD"
    assert summary("REVOKED", 90).needs_reconnect and not summary("ACTIVE", 90).needs_reconnect


def summary_at(
    status: str, days: float | None, bank_state: str = "available", granted: tuple[str, ...] = ()
) -> EntitySummary:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return EntitySummary(
        "e",
        "B",
        "Bank",
        now,
        status,
        None if days is None else now + timedelta(days=days),
        None if days is None else timedelta(days=days),
        len(granted),
        bank_state == "available",
        bank_state=bank_state,
        granted=granted,
    )


def test_disabled_bank_or_inactive_consent_needs_attention() -> None:
    from console.customers import CustomerOverview
    from lean_api.models import Customer

    entities = [
        summary_at("ACTIVE", 200, "disabled_by_lean"),
        summary_at("ACTIVE", 200, "disabled_by_us"),
        summary_at("AWAITING_AUTHORIZATION", 200),
        summary_at("ACTIVE", 200),
    ]
    counts = CustomerOverview(Customer(customer_id="c"), entities).counts
    assert counts["needs_attention"] == 3
    assert counts["bank_disabled"] == 2
    rows = entity_table(entities)
    assert [r["Needs attention"] for r in rows] == ["Yes", "Yes", "Yes", "No"]
    assert counts["needs_attention"] == sum(r["Needs attention"] == "Yes" for r in rows)
    assert [r["Bank available"] for r in rows] == [
        "Disabled by Lean",
        "Disabled by us (portal)",
        "Available",
        "Available",
    ]


@pytest.mark.parametrize(
    ("status", "days", "words"),
    [
        ("ACTIVE", 240.4, "240 days"),
        ("ACTIVE", 1.2, "1 day"),
        ("ACTIVE", 0.3, "less than a day"),
        ("EXPIRED", -3.2, "expired 3 days ago"),
        ("REVOKED", None, "no expiry given"),
        ("REVOKED", 150.2, "not active"),
        ("AWAITING_AUTHORIZATION", 90, "not active"),
    ],
)
def test_days_left_is_whole_days_or_words(status: str, days: float | None, words: str) -> None:
    (row,) = entity_table([summary_at(status, days)])
    assert row["Days left"] == words


def test_permissions_are_named_not_only_counted() -> None:
    some = summary_at("ACTIVE", 9, granted=("identity", "accounts", "balance"))
    assert entity_table([some])[0]["Permissions"] == "3 of 9: identity, accounts, balance"
    assert entity_table([summary_at("ACTIVE", 9)])[0]["Permissions"] == "0 of 9: none"
    every = summary_at("ACTIVE", 9, granted=(*PERMISSIONS, "payments"))
    assert entity_table([every])[0]["Permissions"] == "9 of 9: all + payments"


def test_ticket_link_is_a_full_url() -> None:
    cid = "f08fb010-878f-407a-9ac2-a7840fb56185"
    assert (
        ticket_url("https://ops.example.com/customers", None, cid)
        == f"https://ops.example.com/customers?customer_id={cid}"
    )
    assert (
        ticket_url(None, "console.internal:8501", cid)
        == f"http://console.internal:8501/customers?customer_id={cid}"
    )
    assert ticket_url(None, None, cid) == f"http://localhost:8501/customers?customer_id={cid}"
