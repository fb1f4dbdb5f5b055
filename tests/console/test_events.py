"""Inbox helpers: time windows, summaries, links, arrival delay."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from console.events import (
    arrival_delay,
    build_filter,
    event_links,
    refresh_summary,
    row_summary,
    status_words,
    summarize,
    time_window,
)
from console.formatting import tone_of
from console.store import StoredEvent
from lean_api.models import Refresh

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def stored(type_: str, payload: dict, **fields: object) -> StoredEvent:
    base: dict = {
        "event_id": "ev",
        "type": type_,
        "message": None,
        "lean_timestamp": NOW,
        "received_at": NOW,
        "last_received_at": NOW,
        "delivery_count": 1,
        "verified": True,
        "source_ip": None,
        "customer_id": None,
        "entity_id": None,
        "app_user_id": None,
        "bank_identifier": None,
        "refresh_id": None,
        "status": None,
        "size": 0,
        "payload": json.dumps({"type": type_, "payload": payload}),
    }
    base.update(fields)
    return StoredEvent(**base)


def test_time_windows() -> None:
    assert time_window("Last 24 hours", NOW) == (NOW - timedelta(days=1), None)
    assert time_window("All time", NOW) == (None, None)
    since, until = time_window("Custom dates", NOW, custom=(date(2026, 11, 1), date(2026, 11, 2)))
    assert (since, until) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))


def test_blank_inputs_filter_nothing() -> None:
    flt = build_filter(customer_id="  ", entity_id="", bank=None, text=" ")
    assert (flt.customer_id, flt.entity_id, flt.bank_identifier, flt.text, flt.types) == (
        None,
        None,
        None,
        None,
        (),
    )


def test_summaries_say_what_happened() -> None:
    refresh = stored(
        "entity.data.refresh.updated",
        {
            "refresh_id": "r",
            "status": "FINISHED",
            "data_status": {
                "account_data": [
                    {"account_id": "a", "transactions": "PARTIAL"},
                    {"account_id": "b"},
                ]
            },
        },
    )
    assert summarize(refresh) == "Finished — transactions partial on 1 of 2 accounts"
    bank = stored(
        "bank.availability.updated",
        {
            "identifier": "RIBL",
            "availability": {
                "active": {"data": False, "payments": True},
                "enabled": {"data": True, "payments": True},
            },
        },
    )
    assert summarize(bank) == "RIBL: data disabled by lean, payments available"
    assert (
        summarize(stored("payment.created", {}))
        == "Not interpreted by the console (payment.created)"
    )


def test_links_go_to_the_customer_and_related_events() -> None:
    event = stored(
        "entity.created",
        {},
        customer_id="c-1",
        app_user_id="usr_1",
        entity_id="0123456789ab",
        bank_identifier="RJHI",
    )
    links = {link.label: (link.page, link.query) for link in event_links(event)}
    assert links == {
        "Customer usr_1": ("pages/customers.py", {"customer_id": "c-1"}),
        "Bank connection 01234567…": (
            "pages/entities.py",
            {"entity_id": "0123456789ab", "customer_id": "c-1"},
        ),
        "Events of entity 01234567…": ("pages/webhooks.py", {"entity_id": "0123456789ab"}),
        "Events of bank RJHI": ("pages/webhooks.py", {"bank": "RJHI"}),
    }


def test_arrival_delay_in_words() -> None:
    assert arrival_delay(stored("x", {}, received_at=NOW + timedelta(seconds=3))) == "3 s"
    assert arrival_delay(stored("x", {}, received_at=NOW + timedelta(minutes=61))) == "61 min"
    assert arrival_delay(stored("x", {}, received_at=NOW + timedelta(hours=3))) == "3 h"
    assert arrival_delay(stored("x", {}, lean_timestamp=None)) == "—"


def refresh_of(status: str | None, *accounts: dict[str, str]) -> Refresh:
    return Refresh.model_validate(
        {
            "refresh_id": "r",
            "status": status,
            "data_status": {
                "account_data": [{"account_id": str(i), **a} for i, a in enumerate(accounts)]
            },
        }
    )


@pytest.mark.parametrize(
    ("refresh", "words", "tone"),
    [
        (
            refresh_of(
                "FINISHED",
                {"balance": "FAILED", "standing_orders": "FAILED", "transactions": "PARTIAL"},
                {"balance": "OK"},
                {"balance": "SUCCESS"},
            ),
            "Finished — 2 of 7 data types failed on 1 of 3 accounts; transactions partial on 1 of 3 accounts",
            "bad",
        ),
        (
            refresh_of("OK", {"transactions": "PARTIAL"}, {"transactions": "SUCCESS"}),
            "Finished — transactions partial on 1 of 2 accounts",
            "warn",
        ),
        (
            refresh_of("FINISHED", {"balance": "SUCCESS", "direct_debits": "UNSUPPORTED"}),
            "Finished — every data type succeeded or is unsupported on 1 account",
            "good",
        ),
        (
            refresh_of("PENDING", {"balance": "SUCCESS"}, {"balance": "PENDING"}),
            "Pending — 1 of 2 accounts reported",
            "warn",
        ),
        (refresh_of("THROTTLED", {"balance": "SUCCESS"}), "THROTTLED — 1 account", "muted"),
        (
            refresh_of("FINISHED", {"balance": "SUCCESS", "transactions": "TIMED_OUT"}),
            "Finished — Lean's word TIMED_OUT on some data types",
            "warn",
        ),
        (
            Refresh.model_validate(
                {
                    "refresh_id": "r",
                    "status": "FINISHED",
                    "data_status": {"accounts": "FAILED", "identity": "OK", "account_data": []},
                }
            ),
            "Finished — the account list failed; no account data reported",
            "bad",
        ),
        (
            Refresh.model_validate(
                {
                    "refresh_id": "r",
                    "status": "FINISHED",
                    "data_status": {
                        "accounts": "OK",
                        "identity": "PARTIAL",
                        "account_data": [{"account_id": "a", "balance": "OK"}],
                    },
                }
            ),
            "Finished — identity partial",
            "warn",
        ),
    ],
)
def test_a_refresh_is_summarised_by_what_happened_to_the_data(
    refresh: Refresh, words: str, tone: str
) -> None:
    assert refresh_summary(refresh) == words
    assert tone_of(words) == tone


def test_a_table_row_says_what_its_type_status_and_bank_cells_do_not() -> None:
    def refresh(status: str, *accounts: dict[str, str]) -> StoredEvent:
        data = {"account_data": [{"account_id": str(i), **a} for i, a in enumerate(accounts)]}
        return stored(
            "entity.data.refresh.updated",
            {"refresh_id": "r", "status": status, "data_status": data},
            status=status,
        )

    failed = refresh("FINISHED", {"balance": "FAILED"}, {"transactions": "PARTIAL"})
    assert (status_words(failed), row_summary(failed)) == (
        "Data failed · FINISHED",
        "1 of 7 data types failed on 1 of 2 accounts; transactions partial on 1 of 2 accounts",
    )
    ok = refresh("FINISHED", {"balance": "SUCCESS"}, {"balance": "SUCCESS"})
    assert (status_words(ok), row_summary(ok)) == ("Success · FINISHED", "Succeeded on 2 accounts")
    assert row_summary(refresh("FINISHED", {"direct_debits": "UNSUPPORTED"})) == (
        "Succeeded on 1 account (some data types unsupported)"
    )
    assert row_summary(refresh("PENDING", {"balance": "SUCCESS"}, {})) == "1 of 2 accounts reported"
    assert row_summary(refresh("PENDING")) == "No account data yet"
    # A word the console does not know has no verdict in the Status cell: the line keeps it.
    assert row_summary(refresh("THROTTLED", {"balance": "SUCCESS"})) == "THROTTLED — 1 account"

    availability = {
        "identifier": "RIBL",
        "availability": {
            "active": {"data": False, "payments": True},
            "enabled": {"data": True, "payments": True},
        },
    }
    named = stored("bank.availability.updated", availability, bank_identifier="RIBL")
    assert row_summary(named) == "Data disabled by lean, payments available"
    unnamed = stored("bank.availability.updated", availability)
    assert row_summary(unnamed) == "RIBL: data disabled by lean, payments available"

    entity = {
        "id": "e",
        "customer_id": "c",
        "bank_identifier": "RIBL",
        "permissions": {"identity": True, "standing_orders": True, "transactions": False},
    }
    created = stored("entity.created", entity, bank_identifier="RIBL")
    assert row_summary(created) == "2 permissions: identity, standing orders"
    assert row_summary(stored("entity.created", entity)) == "RIBL connected · 2 permissions"
    assert row_summary(stored("payment.created", {})) == "Not interpreted by the console"


def test_a_row_lists_a_few_permission_names_however_many_the_body_holds() -> None:
    """A page's rows go to the browser whole: a body of 2,000 permission keys (or one key of
    10,000 characters) gives a summary of a bounded length that still counts them all."""
    many = {f"<b>permission_{n}</b>": True for n in range(2000)}
    event = stored(
        "entity.created",
        {"id": "e", "customer_id": "c", "bank_identifier": "RIBL", "permissions": many},
        bank_identifier="RIBL",
    )
    summary = row_summary(event)
    assert summary.startswith("2000 permissions: <b>permission 0</b>, <b>permission 1</b>")
    assert summary.endswith("…") and len(summary) <= len("2000 permissions: ") + 120
    long_key = {"x" * 10_000: True}
    one = stored(
        "entity.created",
        {"id": "e", "customer_id": "c", "bank_identifier": "RIBL", "permissions": long_key},
        bank_identifier="RIBL",
    )
    assert len(row_summary(one)) <= len("1 permission: ") + 120
    # Lean's own word for a status is shown as it came, up to the row's bound.
    odd = stored(
        "entity.data.refresh.updated",
        {"refresh_id": "r", "status": "FINISHED", "data_status": {"account_data": [
            {"account_id": "a", "transactions": "W" * 50_000}
        ]}},
        status="FINISHED",
    )  # fmt: skip
    assert row_summary(odd).startswith("Lean's word WWW") and len(row_summary(odd)) == 300
