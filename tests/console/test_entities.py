"""The Entity screen's shaping: status words, time left, the permission matrix, accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.entities import (
    ENTITY_COLUMN,
    GRANTED,
    NOT_GRANTED,
    InvalidEntityId,
    account_choices,
    account_rows,
    bank_view,
    consent_rows,
    consent_views,
    customer_from_events,
    data_account_choices,
    data_account_item,
    data_account_rows,
    ordered_consents,
    parse_entity_id,
    permission_label,
    permission_matrix,
    permission_names,
    status_words,
    time_left_words,
)
from console.formatting import literal_md
from console.store import StoredEvent
from lean_api.models import PERMISSIONS, Account, Bank, Entity
from tests.entity_payloads import large_entity_json

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_known_status_words_come_with_leans_code() -> None:
    assert (
        status_words("AWAITING_AUTHORIZATION")
        == "Waiting for the customer to authorise · AWAITING_AUTHORIZATION"
    )
    assert status_words("ACTIVE") == "Active · ACTIVE"
    assert status_words("REVOKED").startswith("Revoked")


def test_unknown_status_word_is_kept_and_said_to_be_unknown() -> None:
    assert status_words("PAUSED_BY_BANK") == "Not known to the console · PAUSED_BY_BANK"


@pytest.mark.parametrize("code", [None, "", "  "])
def test_missing_status_says_lean_gave_none(code: str | None) -> None:
    assert status_words(code) == "Not given by Lean"


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(days=12, hours=23), "expires in 12 days"),
        (timedelta(days=1, hours=2), "expires in 1 day"),
        (timedelta(hours=5), "expires within a day"),
        (timedelta(hours=-5), "expired today"),
        (timedelta(days=-3, hours=-4), "expired 3 days ago"),
        (timedelta(days=-1), "expired 1 day ago"),
        (timedelta(days=240, hours=9, minutes=36), "expires in 240 days"),
    ],
)
def test_time_left_in_whole_days(delta: timedelta, words: str) -> None:
    assert time_left_words(NOW + delta, NOW) == words


def test_no_expiry_is_said_in_words() -> None:
    assert time_left_words(None, NOW) == "no expiry given"


def test_entity_id_must_be_a_uuid() -> None:
    assert (
        parse_entity_id(" A2C45B62-0182-4FD8-85E0-F70CA5297EB5 ")
        == "a2c45b62-0182-4fd8-85e0-f70ca5297eb5"
    )
    for raw in ["", "nope", "a2c45b62-0182", "{a2c45b62-0182-4fd8-85e0-f70ca5297eb5}", "`x`" * 40]:
        with pytest.raises(InvalidEntityId):
            parse_entity_id(raw)


def test_invalid_entity_id_message_shows_the_text_literally() -> None:
    with pytest.raises(InvalidEntityId) as caught:
        parse_entity_id("**bold** [x](http://evil)")
    assert literal_md("**bold** [x](http://evil)") in str(caught.value)


def event(entity_id: str, customer_id: str | None) -> StoredEvent:
    return StoredEvent(
        event_id="e",
        type="entity.updated",
        message=None,
        lean_timestamp=NOW,
        received_at=NOW,
        verified=True,
        source_ip=None,
        payload="{}",
        size=2,
        entity_id=entity_id,
        customer_id=customer_id,
        last_received_at=NOW,
        delivery_count=1,
    )


def test_customer_is_found_from_the_newest_event_naming_one() -> None:
    events = [event("ent", None), event("ent", "cust-new"), event("ent", "cust-old")]
    assert customer_from_events(events) == "cust-new"
    assert customer_from_events([event("ent", None)]) is None
    assert customer_from_events([]) is None


def large() -> Entity:
    return Entity.model_validate(large_entity_json())


def test_consents_newest_first_with_words_and_windows() -> None:
    entity = large()
    views = consent_views(entity, NOW)
    assert len(views) == 5
    assert views[0].current and not any(v.current for v in views[1:])
    created = [c.creation_date_time for c in ordered_consents(entity)]
    assert created == sorted(created, reverse=True)
    newest = views[0]  # the fifth consent: PAUSED_BY_BANK, unknown to the console
    assert newest.status == "Not known to the console · PAUSED_BY_BANK"
    assert newest.time_left == "expires in 163 days"
    assert newest.transaction_window == "2025-05-11 – 2027-05-10"
    assert newest.accounts == 20 * 2 + 5 + 1
    rows = consent_rows(entity, NOW)
    assert rows[0]["Consent"].endswith("(current)")
    assert {r["Status"] for r in rows} >= {
        "Waiting for the customer to authorise · AWAITING_AUTHORIZATION",
        "Revoked by the customer · REVOKED",
    }


def test_active_consent_past_its_expiry_reads_expired() -> None:
    entity = Entity.model_validate(
        {
            "id": "e",
            "consents": [
                {"consent_status": "ACTIVE", "expiration_date_time": "2026-11-25T12:00:00Z"}
            ],
        }
    )
    (view,) = consent_views(entity, NOW)
    assert view.status.startswith("Expired · EXPIRED")
    assert "Lean still says ACTIVE" in view.status
    assert view.time_left == "expired 3 days ago"


def test_consent_without_dates_says_not_given() -> None:
    entity = Entity.model_validate({"id": "e", "consents": [{"consent_status": None}]})
    (row,) = consent_rows(entity, NOW)
    assert row["Status"] == "Not given by Lean"
    assert row["Created"] == "not given" and row["Time left"] == "no expiry given"
    assert row["Transactions from – to"] == "… – …"


def test_permission_matrix_names_every_permission_per_consent_and_entity() -> None:
    entity = large()
    matrix = permission_matrix(entity)
    names = permission_names(entity)
    assert names[: len(PERMISSIONS)] == list(PERMISSIONS)
    assert names[len(PERMISSIONS) :] == ["payments_initiation"]
    assert len(matrix) == len(PERMISSIONS) + 1
    assert len(matrix[0]) == 1 + 5 + 1  # permission, five consents, the entity
    assert all(row[ENTITY_COLUMN] == GRANTED for row in matrix)
    assert set().union(*(set(row.values()) for row in matrix)) >= {GRANTED, NOT_GRANTED}


def test_permission_list_and_map_read_the_same() -> None:
    as_list = Entity.model_validate(
        {"id": "e", "consents": [{"permissions": ["identity", "balance"]}]}
    )
    as_map = Entity.model_validate(
        {
            "id": "e",
            "consents": [{"permissions": {"identity": True, "balance": "true", "accounts": False}}],
        }
    )
    column = "Consent 1 · no id"
    assert [r[column] for r in permission_matrix(as_list)] == [
        r[column] for r in permission_matrix(as_map)
    ]
    granted = [r["Permission"] for r in permission_matrix(as_list) if r[column] == GRANTED]
    assert granted == [permission_label("identity"), permission_label("balance")]


def test_unknown_permission_is_named_as_unknown() -> None:
    assert (
        permission_label("payments_initiation") == "Not known to the console · payments_initiation"
    )
    assert permission_label("balance") == "Balances · balance"


def test_accounts_are_masked_by_default_and_revealed_on_request() -> None:
    consent = ordered_consents(large())[0]
    rows = account_rows(consent)
    ibans = [r for r in rows if r["Lean scheme"] == "IBAN"]
    assert len(ibans) == 20
    assert all("••" in r["Identifier"] for r in rows)
    assert not any(
        r["Identifier"] == a.identification for r, a in zip(rows, consent.accounts, strict=True)
    )
    assert {r["Scheme"] for r in rows} == {
        "IBAN",
        "Account number",
        "Card number (masked by the bank)",
        "National ID",
    }
    assert any(r["Account"] == "(no name given)" for r in rows)
    named = [a.name for a in consent.accounts if a.name]
    assert named and not any(r["Account"] in named for r in rows)  # banks name them by holder
    revealed = account_rows(consent, reveal=True)
    assert [r["Identifier"] for r in revealed] == [a.identification for a in consent.accounts]
    # One row revealed by its item, the others still masked.
    choices = account_choices(consent)
    first = next(iter(choices))
    assert len(choices) == len(consent.accounts)
    assert consent.accounts[0].identification not in choices[first]
    one = account_rows(consent, revealed={first})
    assert one[0]["Identifier"] == consent.accounts[0].identification
    assert one[1]["Identifier"] != consent.accounts[1].identification


def test_bank_logo_only_from_the_bank_list_and_only_https() -> None:
    entity = Entity.model_validate(
        {
            "id": "e",
            "bank_identifier": "B1",
            "bank_details": {"logo": "https://evil.example/x.png"},
        }
    )
    assert bank_view(entity, {}).logo_url is None
    assert bank_view(entity, {}).name == "B1"
    plain = Bank(identifier="B1", name="Bank One", logo="http://cdn.example/l.png")
    assert bank_view(entity, {"B1": plain}).logo_url is None
    secure = Bank(
        identifier="B1",
        name="Bank One",
        arabic_name="البنك الأول",
        logo="https://cdn.leantech.me/img/banks/color-b1.png",
    )
    view = bank_view(entity, {"B1": secure})
    assert view.logo_url == "https://cdn.leantech.me/img/banks/color-b1.png"
    assert view.arabic_name == "البنك الأول" and view.name == "Bank One"


def test_entity_without_a_bank_identifier() -> None:
    view = bank_view(Entity.model_validate({"id": "e"}), {})
    assert view.name == "Unknown bank" and view.logo_url is None


def test_data_accounts_in_words_with_masked_identifiers() -> None:
    account = Account.model_validate(
        {
            "account_id": "25e9aae3",
            "account_holder_name": None,
            "status": "ENABLED",
            "currency": "SAR",
            "account_type": "PERSONAL",
            "account_sub_type": "CURRENT",
            "nickname": "Current Account",
            "opening_date": "2024-02-05",
            "account": [
                {"scheme_name": "IBAN", "identification": "SA04203XGFV6Y7UWB7IYNK0I"},
                {"scheme_name": "BBAN", "identification": "3XGFV6Y7UWB7IYNK0I"},
            ],
        }
    )
    (row,) = data_account_rows([account])
    assert row["Holder"] == "(not given)" and row["Type"] == "PERSONAL / CURRENT"
    assert row["Opened"] == "2024-02-05"
    assert row["Identifiers"] == "IBAN SA04 •••• •••• •• 0I · Account number (BBAN) •••• •••• 0I"
    (shown,) = data_account_rows([account], reveal=True)
    assert "SA04203XGFV6Y7UWB7IYNK0I" in shown["Identifiers"]
    (by_item,) = data_account_rows([account], revealed={data_account_item(account.account_id)})
    assert by_item == shown


def test_account_holders_are_masked_also_where_the_name_repeats_them() -> None:
    account = Account.model_validate(
        {"account_id": "25e9aae3", "account_holder_name": "Mae Darlene Zulauf",
         "account_holder_short_name": "Mae Zulauf", "description": "Mae Zulauf Current Account",
         "account": [{"scheme_name": "IBAN", "identification": "SA04203XGFV6Y7UWB7IYNK0I"}]}
    )  # fmt: skip
    (row,) = data_account_rows([account])
    assert row["Holder"] == "M•••• D•••• Z••••"
    assert row["Account"] == "M•••• Z•••• Current Account"
    assert data_account_choices([account]) == {
        "account:25e9aae3": "M•••• Z•••• Current Account · SA04 •••• •••• •• 0I"
    }
