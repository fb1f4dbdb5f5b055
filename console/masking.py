"""Account identifiers as an operator may see them by default: enough to match a customer's
statement ("the IBAN ending 0I"), never enough to copy the account.

Pure functions, no Streamlit. The shape of a masked value is fixed, so it does not reveal the
length of what it hides either.
"""

from __future__ import annotations

import re

BULLET = "•"
# Lean's scheme words (Postman examples: IBAN, ACCOUNT_NUMBER, BBAN, MASKED_PAN, PAN, NATIONAL_ID,
# OTHER) in the operator's words. Unknown schemes are shown as Lean wrote them.
SCHEME_LABELS = {
    "IBAN": "IBAN",
    "ACCOUNT_NUMBER": "Account number",
    "BBAN": "Account number (BBAN)",
    "MASKED_PAN": "Card number (masked by the bank)",
    "PAN": "Card number",
    "NATIONAL_ID": "National ID",
    "OTHER": "Other identifier",
}
CARD_SCHEMES = frozenset({"PAN", "MASKED_PAN"})
_IBAN_SHAPE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{8,30}$")
_SPACES = re.compile(r"[\s-]+")


def scheme_label(scheme: str | None) -> str:
    """`MASKED_PAN` → "Card number (masked by the bank)"; an unknown word is kept; None → "Not given"."""
    word = (scheme or "").strip().upper()
    if not word:
        return "Not given"
    return SCHEME_LABELS.get(word, (scheme or "").strip())


def looks_like_iban(value: str) -> bool:
    """True for text shaped like an IBAN (two letters, two check digits, 8 to 30 more)."""
    return bool(_IBAN_SHAPE.match(_SPACES.sub("", value).upper()))


def mask_iban(value: str) -> str:
    """`SA04203XGFV6Y7UWB7IYNK0I` → `SA04 •••• •••• •• 0I`: country and check digits, last 2."""
    compact = _SPACES.sub("", value)
    if len(compact) < 8:
        return _hidden()
    return f"{compact[:4].upper()} {BULLET * 4} {BULLET * 4} {BULLET * 2} {compact[-2:]}"


def mask_card(value: str) -> str:
    """A card number (or the bank's own masked one) → `•••• •••• •••• 7401`.

    The last four are what card schemes allow on screen and what Lean's MASKED_PAN already shows.
    """
    digits = re.sub(r"[^0-9]", "", value)
    if len(digits) < 4 or len(_SPACES.sub("", value)) < 8:
        return _hidden()
    return f"{BULLET * 4} {BULLET * 4} {BULLET * 4} {digits[-4:]}"


def mask_tail(value: str, keep: int = 2) -> str:
    """Any other identifier (account number, national ID) → `•••• •••• 86`: the last `keep`."""
    compact = _SPACES.sub("", value)
    if len(compact) < max(6, keep * 3):
        return _hidden()
    return f"{BULLET * 4} {BULLET * 4} {compact[-keep:]}"


def mask_identifier(scheme: str | None, value: str | None) -> str:
    """An identifier masked by its scheme; "" when there is none.

    The value decides when the scheme misleads: Lean has sent IBANs under `PAN`, so anything
    shaped like an IBAN is masked as one.
    """
    text = (value or "").strip()
    if not text:
        return ""
    word = (scheme or "").strip().upper()
    if word == "IBAN" or looks_like_iban(text):
        return mask_iban(text)
    if word in CARD_SCHEMES:
        return mask_card(text)
    return mask_tail(text)


def _hidden() -> str:
    # Too short to show any part of it safely.
    return BULLET * 4
