"""Shape drift: the models read every variant Lean sends, and keep what they do not know."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from lean_api.models import (
    AccessToken,
    AccountRefreshStatus,
    Bank,
    Consent,
    Entity,
    Page,
    PageInfo,
    Refresh,
    normalize_permissions,
    parse_lean_datetime,
    unwrap_page,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-05-10T12:34:28.510Z", datetime(2026, 5, 10, 12, 34, 28, 510000, tzinfo=UTC)),
        ("2026-05-10T12:34:28.510038Z", datetime(2026, 5, 10, 12, 34, 28, 510038, tzinfo=UTC)),
        ("2026-05-10T12:34:28.510038424Z", datetime(2026, 5, 10, 12, 34, 28, 510038, tzinfo=UTC)),
        ("2018-11-01T00:00:00+4:00", datetime(2018, 10, 31, 20, 0, tzinfo=UTC)),
        ("2018-11-01T00:00:00+0400", datetime(2018, 10, 31, 20, 0, tzinfo=UTC)),
        ("2018-11-01T04:00:00+03", datetime(2018, 11, 1, 1, 0, tzinfo=UTC)),
        ("2024-09-07", datetime(2024, 9, 7, tzinfo=UTC)),
        ("2024-09-07T10:00:00", datetime(2024, 9, 7, 10, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("<DateTime>", None),
    ],
)
def test_timestamps_in_every_format_become_aware_utc(
    raw: str | None, expected: datetime | None
) -> None:
    assert parse_lean_datetime(raw) == expected


def test_permissions_list_and_map_become_the_same_map() -> None:
    as_list = normalize_permissions(["transactions", "identity", "accounts"])
    as_map = normalize_permissions(
        {"transactions": True, "identity": True, "accounts": True, "balance": False}
    )
    assert as_list == as_map
    assert len(as_list) == 9
    assert as_list["transactions"] is True and as_list["beneficiaries"] is False


def test_unknown_permission_names_are_kept() -> None:
    assert normalize_permissions(["payments_v3"])["payments_v3"] is True


@pytest.mark.parametrize("word", ["OK", "SUCCESS", "ok", " Success "])
def test_ok_and_success_both_mean_success(word: str) -> None:
    assert AccountRefreshStatus.model_validate({"balance": word}).balance == "SUCCESS"


def test_unknown_status_words_are_kept_not_rejected() -> None:
    status = AccountRefreshStatus.model_validate({"transactions": "THROTTLED_BY_BANK"})
    assert status.transactions == "THROTTLED_BY_BANK"


@pytest.mark.parametrize("key", ["transaction_availability", "transactionAvailability"])
def test_transaction_availability_reads_snake_and_camel_case(key: str) -> None:
    status = AccountRefreshStatus.model_validate(
        {"account_id": "a", key: {"start": "2024-09-07", "end": "2025-09-12"}}
    )
    assert status.transaction_availability is not None
    assert status.transaction_availability.start == datetime(2024, 9, 7, tzinfo=UTC)
    assert status.transaction_availability.complete_months is None


@pytest.mark.parametrize("word", ["FINISHED", "OK"])
def test_refresh_top_level_ok_means_finished(word: str) -> None:
    assert Refresh.model_validate({"refresh_id": "r", "status": word}).status == "FINISHED"


@pytest.mark.parametrize("token_type", ["bearer", "Bearer", "BEARER"])
def test_token_type_is_normalised(token_type: str) -> None:
    assert (
        AccessToken.model_validate({"access_token": "x", "token_type": token_type}).token_type
        == "Bearer"
    )


def test_new_fields_from_lean_are_kept_not_rejected() -> None:
    entity = Entity.model_validate(
        {"id": "e1", "bank_identifier": "X", "brand_new_field": {"nested": 1}}
    )
    assert entity.model_extra == {"brand_new_field": {"nested": 1}}


def test_webhook_entity_takes_bank_identifier_from_bank_details() -> None:
    entity = Entity.model_validate(
        {"id": "e1", "permissions": ["accounts"], "bank_details": {"identifier": "LEA1_SAMAOB_SAU"}}
    )
    assert entity.bank_identifier == "LEA1_SAMAOB_SAU"
    assert entity.granted_permissions == ["accounts"]


def test_active_consent_past_expiry_reads_as_expired() -> None:
    consent = Consent.model_validate(
        {"consent_status": "ACTIVE", "expiration_date_time": "2026-01-01T00:00:00Z"}
    )
    assert consent.effective_status(datetime(2026, 6, 1, tzinfo=UTC)) == "EXPIRED"
    assert consent.effective_status(datetime(2025, 6, 1, tzinfo=UTC)) == "ACTIVE"


def test_current_consent_is_the_newest() -> None:
    entity = Entity.model_validate(
        {
            "id": "e",
            "consents": [
                {
                    "id": "old",
                    "consent_status": "EXPIRED",
                    "creation_date_time": "2025-01-01T00:00:00Z",
                },
                {
                    "id": "new",
                    "consent_status": "ACTIVE",
                    "creation_date_time": "2026-01-01T00:00:00Z",
                },
            ],
        }
    )
    assert entity.current_consent is not None and entity.current_consent.id == "new"


@pytest.mark.parametrize(
    ("active", "enabled", "state"),
    [
        (True, True, "available"),
        (False, True, "disabled_by_lean"),
        (True, False, "disabled_by_us"),
        (False, False, "disabled_by_lean"),
    ],
)
def test_bank_is_available_only_when_both_switches_are_on(
    active: bool, enabled: bool, state: str
) -> None:
    bank = Bank.model_validate(
        {
            "identifier": "B",
            "availability": {"active": {"data": active}, "enabled": {"data": enabled}},
        }
    )
    assert bank.availability.state("data") == state
    assert bank.availability.is_available("data") is (state == "available")


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"customer_id": "c"}], "page": {"number": 0, "size": 1, "total_pages": 3}},
        {"content": [{"customer_id": "c"}], "page": {"number": 0, "size": 1, "total_pages": 3}},
        {
            "data": {
                "type": "customers",
                "customers": [{"customer_id": "c"}],
                "page": {"number": 0, "size": 1, "total_pages": 3},
            }
        },
    ],
)
def test_every_page_envelope_unwraps_the_same(body: dict) -> None:
    items, page = unwrap_page(body, "customers")
    assert items == [{"customer_id": "c"}]
    assert page["total_pages"] == 3


def test_bare_array_is_a_single_complete_page() -> None:
    items, page = unwrap_page([{"a": 1}, {"a": 2}])
    assert len(items) == 2 and page["total_pages"] == 1


def test_page_without_totals_continues_while_full() -> None:
    full = Page[Entity](items=[Entity(id="a"), Entity(id="b")], page=PageInfo(number=0, size=2))
    short = Page[Entity](items=[Entity(id="a")], page=PageInfo(number=1, size=2))
    assert full.has_next and not short.has_next


def test_float_amounts_keep_their_decimal_digits() -> None:
    from lean_api.models import Amount

    assert Amount.model_validate({"amount": 178268.21, "currency": "SAR"}).amount == Decimal(
        "178268.21"
    )
