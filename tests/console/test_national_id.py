"""A national ID is checked before Lean sees it, and the reasons never repeat it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.national_id import (
    InvalidNationalId,
    luhn_check_digit,
    luhn_valid,
    parse_national_id,
)

# Valid by construction: the check digit completes Luhn over the first nine.
CITIZEN = "1" + "23456789" + luhn_check_digit("123456789")
RESIDENT = "2" + "10000000" + luhn_check_digit("210000000")


def test_known_luhn_numbers() -> None:
    assert luhn_valid("79927398713")  # the textbook Luhn example
    assert not luhn_valid("79927398710")
    assert CITIZEN == "1234567897"
    assert luhn_valid(CITIZEN) and luhn_valid(RESIDENT)


@pytest.mark.parametrize("valid", [CITIZEN, RESIDENT])
def test_valid_ids_are_accepted(valid: str) -> None:
    parsed = parse_national_id(valid)
    assert parsed.value == valid
    assert parsed.holder_kind == (
        "citizen (national ID)" if valid[0] == "1" else "resident (iqama)"
    )


def test_spaces_anywhere_are_ignored() -> None:
    spaced = f"  {CITIZEN[:3]} {CITIZEN[3:6]}\t{CITIZEN[6:]} \n"
    assert parse_national_id(spaced).value == CITIZEN


def test_arabic_indic_digits_are_read_as_digits() -> None:
    arabic = CITIZEN.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    persian = CITIZEN.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert parse_national_id(arabic).value == CITIZEN
    assert parse_national_id(persian).value == CITIZEN


@pytest.mark.parametrize(
    "other_script",
    [
        CITIZEN.translate(str.maketrans("0123456789", "０１２３４５６７８９")),  # full-width
        CITIZEN.translate(str.maketrans("0123456789", "०१२३४५६७८९")),  # Devanagari
    ],
)
def test_digits_of_other_scripts_are_refused_with_a_clear_reason(other_script: str) -> None:
    with pytest.raises(InvalidNationalId, match="Arabic-Indic"):
        parse_national_id(other_script)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "Enter"),
        ("   ", "Enter"),
        (None, "Enter"),
        (CITIZEN[:9], "exactly 10 digits; this has 9"),
        (CITIZEN + "0", "exactly 10 digits; this has 11"),
        ("12345A7897", "digits only"),
        ("1234-567897", "digits only"),
        ("3" + CITIZEN[1:], "starts with 3"),
        ("0" + CITIZEN[1:], "starts with 0"),
        (CITIZEN[:9] + str((int(CITIZEN[9]) + 1) % 10), "check digit"),
        (CITIZEN[0] + CITIZEN[2] + CITIZEN[1] + CITIZEN[3:], "check digit"),  # swapped digits
    ],
)
def test_invalid_ids_are_refused_with_the_reason(raw: str | None, reason: str) -> None:
    with pytest.raises(InvalidNationalId, match=reason):
        parse_national_id(raw)


def test_a_leading_3_with_a_valid_checksum_is_still_refused() -> None:
    starts_with_3 = "3" + "00000000" + luhn_check_digit("300000000")
    assert luhn_valid(starts_with_3)
    with pytest.raises(InvalidNationalId, match=r"starts with 1 .* 2"):
        parse_national_id(starts_with_3)


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_no_reason_ever_repeats_the_id(typed: str) -> None:
    try:
        parse_national_id(typed)
    except InvalidNationalId as exc:
        assert typed not in str(exc)


def test_the_parsed_id_never_shows_in_full_in_logs_or_tracebacks() -> None:
    parsed = parse_national_id(CITIZEN)
    assert CITIZEN not in repr(parsed) and CITIZEN not in str(parsed)
    assert parsed.masked == "•••• •••• 97"


def test_every_seeded_holder_has_an_id_the_form_accepts() -> None:
    from sandbox import seed

    for account in seed.generate().accounts.values():
        assert parse_national_id(account.holder.national_id).value == account.holder.national_id
