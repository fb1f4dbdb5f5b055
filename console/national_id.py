"""A Saudi national ID or iqama number, checked before it is sent to Lean.

Ten digits: the first is 1 (a citizen's national ID) or 2 (a resident's iqama), the last is a Luhn
check digit over the other nine. Spaces are ignored. Arabic-Indic digits (٠١٢٣٤٥٦٧٨٩, and the
Persian forms ۰۱۲۳۴۵۶۷۸۹) are read as the digits they are, because operators copy IDs from Arabic
documents; any other script's digits are refused, since Lean expects ASCII.

Pure: no Streamlit, no logging. Error messages never repeat the ID, so they can be shown and kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from console.masking import mask_tail

LENGTH = 10
HOLDER_KINDS = {"1": "citizen (national ID)", "2": "resident (iqama)"}
# U+0660–U+0669 Arabic-Indic and U+06F0–U+06F9 Extended Arabic-Indic (Persian, Urdu) digits.
_ARABIC_DIGITS = str.maketrans(
    "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹",
    "01234567890123456789",
)
_WHITESPACE = re.compile(r"\s+")
_ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


class InvalidNationalId(ValueError):
    """The text is not a Saudi national ID or iqama number; the message says why, without it."""


@dataclass(frozen=True)
class NationalId:
    """A checked national ID: `value` is what Lean is sent; `masked` is what screens show."""

    value: str

    @property
    def masked(self) -> str:
        """`•••• •••• 86`: enough to match a document, not to copy it."""
        return mask_tail(self.value)

    @property
    def holder_kind(self) -> str:
        """ "citizen (national ID)" or "resident (iqama)"."""
        return HOLDER_KINDS[self.value[0]]

    def __repr__(self) -> str:  # never let the full ID reach a log line or a traceback
        return f"NationalId({self.masked!r})"

    __str__ = __repr__


def luhn_valid(digits: str) -> bool:
    """True when the ASCII `digits` pass the Luhn check (the last digit is the check digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def luhn_check_digit(first_nine: str) -> str:
    """The check digit that makes `first_nine` + it pass Luhn (for tests and seed data)."""
    for candidate in "0123456789":
        if luhn_valid(first_nine + candidate):
            return candidate
    raise AssertionError("unreachable: one digit always completes a Luhn number")


def parse_national_id(raw: str | None) -> NationalId:
    """Check a typed national ID or iqama number; raise `InvalidNationalId` with the reason.

    Spaces anywhere are removed and Arabic-Indic digits read as ASCII before the checks.
    """
    text = _WHITESPACE.sub("", raw or "").translate(_ARABIC_DIGITS)
    if not text:
        raise InvalidNationalId("Enter the customer's national ID or iqama number.")
    if not _ASCII_DIGITS.fullmatch(text):
        if any(ch.isdigit() for ch in text) and all(ch.isdigit() for ch in text):
            raise InvalidNationalId(
                "Use Western (0-9) or Arabic-Indic (٠-٩) digits; these digits are from another "
                "script."
            )
        raise InvalidNationalId(
            "A national ID or iqama number has digits only: no letters, dashes or other signs."
        )
    if len(text) != LENGTH:
        raise InvalidNationalId(
            f"A national ID or iqama number has exactly {LENGTH} digits; this has {len(text)}."
        )
    if text[0] not in HOLDER_KINDS:
        raise InvalidNationalId(
            "A national ID starts with 1 (citizen) and an iqama number with 2 (resident); "
            f"this starts with {text[0]}."
        )
    if not luhn_valid(text):
        raise InvalidNationalId(
            "The last digit does not match the others (check digit): a digit was probably "
            "mistyped or swapped."
        )
    return NationalId(text)
