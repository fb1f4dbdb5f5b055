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
)
from lean_api import LeanClient, NotFoundError
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
    assert consent_label(summary("ACTIVE", 3)) == "ACTIVE · expires in 3 d"
    assert consent_label(summary("ACTIVE", 0.25)) == "ACTIVE · expires in 6 h"
    assert consent_label(summary("ACTIVE", 90)) == "ACTIVE"
    assert consent_label(summary("REVOKED", 90)) == "REVOKED"
    assert summary("REVOKED", 90).needs_reconnect and not summary("ACTIVE", 90).needs_reconnect
