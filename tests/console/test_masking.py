"""Account identifiers are masked by scheme, with a fixed shape that hides their length too."""

from __future__ import annotations

import pytest

from console.masking import (
    BULLET,
    looks_like_iban,
    mask_card,
    mask_iban,
    mask_identifier,
    scheme_label,
)


def test_iban_keeps_country_check_digits_and_last_two() -> None:
    assert mask_iban("SA04203XGFV6Y7UWB7IYNK0I") == "SA04 •••• •••• •• 0I"
    assert mask_identifier("IBAN", "sa04 203X GFV6 Y7UW B7IY NK0I") == "SA04 •••• •••• •• 0I"


def test_masked_iban_hides_everything_in_the_middle() -> None:
    masked = mask_identifier("IBAN", "SA04203XGFV6Y7UWB7IYNK0I")
    for hidden in ("203X", "GFV6", "Y7UW", "B7IY", "NK"):
        assert hidden not in masked


def test_masked_shape_does_not_depend_on_length() -> None:
    assert len(mask_iban("SA0420000000000000000001")) == len(mask_iban("AE070331234567890123456"))


def test_card_numbers_show_only_the_last_four() -> None:
    assert mask_identifier("MASKED_PAN", "************7401") == "•••• •••• •••• 7401"
    assert mask_card("4111 1111 1111 1234") == "•••• •••• •••• 1234"
    assert "4111" not in mask_identifier("PAN", "4111111111111234")


def test_iban_sent_under_a_card_scheme_is_masked_as_an_iban() -> None:
    # Lean's beneficiaries example carries an IBAN with scheme_name PAN.
    assert mask_identifier("PAN", "SA5008GC7NKG2J9JDX2A9DE7") == "SA50 •••• •••• •• E7"


@pytest.mark.parametrize(
    ("scheme", "value", "expected"),
    [
        ("ACCOUNT_NUMBER", "3XGFV6Y7UWB7IYNK0I", "•••• •••• 0I"),
        ("BBAN", "44NOL8PFRARMFZN3BI", "•••• •••• BI"),
        ("NATIONAL_ID", "1106972886", "•••• •••• 86"),
        ("SOMETHING_NEW", "ABCDEFGH12", "•••• •••• 12"),
        (None, "ABCDEFGH12", "•••• •••• 12"),
    ],
)
def test_other_identifiers_keep_the_last_two(scheme: str | None, value: str, expected: str) -> None:
    assert mask_identifier(scheme, value) == expected


@pytest.mark.parametrize("value", ["12345", "AB", "x", "SA04"])
def test_short_values_are_hidden_whole(value: str) -> None:
    assert mask_identifier("ACCOUNT_NUMBER", value) == BULLET * 4
    assert mask_identifier("IBAN", value) == BULLET * 4


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_identifier_is_empty(value: str | None) -> None:
    assert mask_identifier("IBAN", value) == ""


def test_scheme_words() -> None:
    assert scheme_label("MASKED_PAN") == "Card number (masked by the bank)"
    assert scheme_label("national_id") == "National ID"
    assert scheme_label("ACCOUNT_NUMBER") == "Account number"
    assert scheme_label("WALLET_ID") == "WALLET_ID"
    assert scheme_label(None) == "Not given"


def test_iban_shape() -> None:
    assert looks_like_iban("SA04203XGFV6Y7UWB7IYNK0I")
    assert not looks_like_iban("************7401")
    assert not looks_like_iban("1106972886")
