"""Personal data as an operator may see it by default: enough to match a customer's statement or
a caller ("the IBAN ending 0I", "M•••• A••••", "+966 •••• ••78"), never enough to copy it.

Account identifiers, card numbers and national IDs; names, phone numbers, e-mail and postal
addresses; free text (log lines) and whole JSON payloads. Pure functions, no Streamlit. The shape of a masked value is fixed, so it does not reveal the
length of what it hides either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

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


# ---------------------------------------------------------------------------------------------
# Names, phone numbers, e-mail addresses and postal addresses
# ---------------------------------------------------------------------------------------------

# U+0660–U+0669 Arabic-Indic and U+06F0–U+06F9 Extended Arabic-Indic digits, read as digits.
_ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_NAME_WORD = re.compile(r"[^\s,]+")


def ascii_digits(text: str) -> str:
    """Arabic-Indic and Persian digits as ASCII digits; everything else unchanged."""
    return text.translate(_ARABIC_DIGITS)


def mask_name(value: str | None) -> str:
    """`Mae Darlene Zulauf` → `M•••• D•••• Z••••`; `محمد العتيبي` → `م•••• ا••••`.

    The first letter of each word, so a caller's "Mohammed A…" can be matched; every word is
    the same width, so the length of the name is not shown.
    """
    words = _NAME_WORD.findall(value or "")
    if not words:
        return ""
    return " ".join(f"{word[0]}{BULLET * 4}" for word in words[:6])


# Words banks use to name an account's kind: they stay when an account's name is masked.
ACCOUNT_WORDS = frozenset(
    {
        "account", "current", "savings", "saving", "credit", "card", "charge", "prepaid",
        "deposit", "loan", "mortgage", "investment", "salary", "joint", "business", "e-wallet",
        "wallet", "time", "term", "emi", "main", "checking", "حساب", "جاري", "توفير", "ادخار",
    }
)  # fmt: skip


def mask_account_name(value: str | None) -> str:
    """A bank's name for an account, which often repeats its holder's: `Lama Al-Yami Current
    Account` → `L•••• A•••• Current Account` (the words of an account's kind stay)."""
    words = _NAME_WORD.findall(value or "")
    return " ".join(
        word if word.lower() in ACCOUNT_WORDS else f"{word[0]}{BULLET * 4}" for word in words
    )


def mask_phone(value: str | None) -> str:
    """`+966512345678` → `+966 •••• ••78`: the country code (when written) and the last 2."""
    text = ascii_digits((value or "").strip())
    digits = re.sub(r"[^0-9]", "", text)
    if not digits:
        return ""
    if len(digits) < 6:
        return _hidden()
    prefix = ""
    if text.startswith("+") or text.startswith("00") or digits.startswith("966"):
        international = digits[2:] if text.startswith("00") else digits
        if international.startswith("966"):
            prefix = "+966 "
    return f"{prefix}{BULLET * 4} {BULLET * 2}{digits[-2:]}"


def mask_email(value: str | None) -> str:
    """`yvone.jacobson@hotmail.com` → `y•••@h•••.com`: first letters and the top-level domain."""
    text = (value or "").strip()
    if not text:
        return ""
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return _hidden()
    labels = domain.split(".")
    tld = f".{labels[-1]}" if len(labels) > 1 and labels[-1] else ""
    return f"{local[0]}{BULLET * 3}@{domain[0]}{BULLET * 3}{tld}"


# The parts of a postal address that say where in the country, not where the person lives.
ADDRESS_KEPT = ("town_name", "city", "city_name", "country")


def mask_address(value: Any) -> str:
    """A postal address with only its town and country: `•••• · Riyadh, Saudi Arabia`.

    A mapping (Lean's `address` / `postal_address`) keeps `town_name` and `country`; an address
    given as one line of text cannot be taken apart safely and is hidden whole.
    """
    if value is None or value == "" or value == {}:
        return ""
    if not isinstance(value, Mapping):
        return _hidden()
    kept = []
    for key in ADDRESS_KEPT:
        part = value.get(key)
        if isinstance(part, str) and part.strip() and part.strip() not in kept:
            kept.append(part.strip())
    return f"{_hidden()} · {', '.join(kept)}" if kept else _hidden()


def redact_names(text: str | None, names: Iterable[str | None]) -> str:
    """`text` with every word of the given names masked: `Mae Zulauf Savings Account` with the
    holder "Mae Zulauf" → `M•••• Z•••• Savings Account`. Words under 3 letters stay."""
    result = text or ""
    words = {w for name in names if name for w in _NAME_WORD.findall(name) if len(w) >= 3}
    for word in sorted(words, key=len, reverse=True):
        result = re.sub(
            rf"(?<!\w){re.escape(word)}(?!\w)",
            f"{word[0]}{BULLET * 4}",
            result,
            flags=re.IGNORECASE,
        )
    return result


# ---------------------------------------------------------------------------------------------
# Free text (log lines, payload values under keys that say nothing): shapes of personal data
# ---------------------------------------------------------------------------------------------

# `%40` is an @ in a URL path (a customer looked up by an app_user_id that is an e-mail).
_EMAIL_IN_TEXT = re.compile(r"[\w.+%-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+")
# Two letters, two check digits, then 11 to 30 letters or digits, optionally in groups of four.
_IBAN_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)"
    r"(?![A-Za-z0-9])"
)
# 13 to 19 digits, optionally grouped by spaces or dashes (a card number); Luhn-checked below.
_CARD_IN_TEXT = re.compile(r"(?<![0-9A-Za-z.])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z.])")
# A Saudi national ID or iqama number: 10 digits starting with 1 or 2, not part of a longer run.
_NATIONAL_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z.])[12]\d{9}(?![0-9A-Za-z.])")
# Phone numbers: international (+ or 00, then 8 to 15 digits, maybe grouped) or a Saudi mobile.
_PHONE_IN_TEXT = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\d(?:[ -]?\d){7,14}|9665\d{8}|05\d{8})(?![0-9A-Za-z])"
)


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _card_or_keep(match: re.Match[str]) -> str:
    digits = re.sub(r"[^0-9]", "", match.group(0))
    # Card numbers start with 2–6 (Mastercard, Amex, Visa, mada, Discover): a nanosecond or
    # millisecond timestamp (starting with 1) is not a card, whatever its check digit.
    if digits[0] in "23456" and _luhn(digits):
        return mask_card(digits)
    return match.group(0)


def mask_text(text: str | None) -> str:
    """Free text with e-mail addresses, IBANs, card numbers, national IDs and phone numbers
    masked wherever they appear; everything else unchanged. For log lines and for payload
    values whose key says nothing about what they hold."""
    if not text:
        return text or ""
    result = ascii_digits(text) if any("\u0660" <= c <= "\u06f9" for c in text) else text
    result = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0).replace("%40", "@")), result)
    result = _IBAN_IN_TEXT.sub(lambda m: mask_iban(m.group(0)), result)
    result = _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), result)
    result = _CARD_IN_TEXT.sub(_card_or_keep, result)
    return _NATIONAL_ID_IN_TEXT.sub(lambda m: mask_tail(m.group(0)), result)


# ---------------------------------------------------------------------------------------------
# Payloads: a JSON value with personal data masked by the keys that hold it
# ---------------------------------------------------------------------------------------------

ACCOUNT_KEYS = frozenset(
    {"iban", "account_number", "bban", "identification", "secondary_identification"}
)
CARD_KEYS = frozenset({"pan", "card_number", "masked_pan"})
NATIONAL_ID_KEYS = frozenset(
    {"national_id", "iqama", "iqama_number", "national_identity", "national_number", "id_number"}
)
NAME_KEYS = frozenset(
    {
        "full_legal_name", "full_name", "first_name", "middle_name", "last_name", "family_name",
        "account_holder_name", "account_holder_short_name", "account_holder_full_name",
        "holder_name", "beneficiary_name", "customer_name", "person_name", "name",
    }
)  # fmt: skip
PHONE_KEYS = frozenset({"phone", "mobile", "mobile_number", "phone_number", "telephone", "msisdn"})
EMAIL_KEYS = frozenset({"email", "email_address"})
ADDRESS_KEYS = frozenset({"address", "postal_address", "addresses", "national_address"})
# Address parts that identify a home; town, region and country are kept.
ADDRESS_PART_KEYS = frozenset(
    {
        "address_line", "address2", "street", "street_name", "street_address", "building_number",
        "building_name", "apartment_or_villa_number", "unit_number", "po_box", "post_code",
        "additional_number", "area", "district", "latitude", "longitude",
    }
)  # fmt: skip
TAGGED_KINDS = (
    ACCOUNT_KEYS | CARD_KEYS | NATIONAL_ID_KEYS | NAME_KEYS | PHONE_KEYS | EMAIL_KEYS
) - {"identification"}
# A bank's own code names the bank, not the customer: shown as it is.
PUBLIC_SCHEMES = frozenset({"BICFI", "BIC", "SWIFT"})
# Objects that describe a bank or a merchant, not a person: their name and address stay.
PUBLIC_PARENTS = frozenset(
    {
        "bank_details", "bank", "creditor_agent", "debtor_agent", "servicer", "agent",
        "merchant_details", "merchant", "issuer",
    }
)  # fmt: skip


def mask_payload(value: Any) -> Any:
    """A copy of a JSON value (a webhook payload, a record from Lean) with personal data masked.

    Conservative: values under keys that name personal data (IBANs and account numbers, card
    numbers, national IDs, names, phone numbers, e-mail and postal addresses) are masked by their
    kind; every other text value is searched for e-mail addresses, IBANs, card numbers, national
    IDs and phone numbers (`mask_text`); the names found are also masked in the object's other
    text (a description that repeats the holder's name). Banks' and merchants' names stay.
    """
    return _mask_node(value, parent="", names=())


def _mask_node(value: Any, *, parent: str, names: tuple[str, ...]) -> Any:
    if isinstance(value, Mapping):
        public = parent in PUBLIC_PARENTS
        found = names
        if not public:
            found = names + tuple(
                str(v) for k, v in value.items() if str(k).lower() in NAME_KEYS and v
            )
        scheme = value.get("scheme_name") if isinstance(value.get("scheme_name"), str) else None
        # `{"type": "FULL_NAME", "value": "…"}` (Lean's verification requests): the type says
        # what the value is.
        tag = value.get("type")
        tagged = tag.lower() if isinstance(tag, str) and tag.lower() in TAGGED_KINDS else None
        return {
            key: _mask_field(
                tagged if tagged and key == "value" else str(key).lower(),
                inner,
                parent=parent,
                scheme=tag if tagged in ACCOUNT_KEYS else scheme,
                public=public,
                names=found,
            )
            for key, inner in value.items()
        }
    if isinstance(value, list):
        return [_mask_node(inner, parent=parent, names=names) for inner in value]
    if isinstance(value, str):
        return redact_names(mask_text(value), names) if names else mask_text(value)
    return value


def _mask_field(
    key: str, value: Any, *, parent: str, scheme: str | None, public: bool, names: tuple[str, ...]
) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if key in ADDRESS_KEYS and not public:
        if isinstance(value, list):
            return [mask_address(v) if v else v for v in value]
        return mask_address(value)
    if isinstance(value, Mapping | list):
        return _mask_node(value, parent=key, names=names)
    text = str(value)
    if not text:
        return value
    if key in CARD_KEYS:
        return mask_identifier("MASKED_PAN", text)
    if key in NATIONAL_ID_KEYS:
        return mask_tail(ascii_digits(text))
    if key in ACCOUNT_KEYS:
        if (scheme or "").upper() in PUBLIC_SCHEMES or public:
            return value
        return mask_identifier(scheme, text)
    if key in EMAIL_KEYS:
        return mask_email(text)
    if key in PHONE_KEYS:
        return mask_phone(text)
    if key == "name" and parent in ("account", "creditor_account", "debtor_account"):
        return mask_account_name(text)
    if key in NAME_KEYS and not public:
        return mask_name(text)
    if key in ADDRESS_PART_KEYS and not public and parent not in PUBLIC_PARENTS:
        return _hidden()
    return _mask_node(value, parent=parent, names=names)


def mask_export_value(column: str, value: Any) -> Any:
    """One cell of an event export, masked: the payload by its keys (a body that is not JSON is
    still searched), an app_user_id when it is an e-mail address or a phone number."""
    if column == "app_user_id" and isinstance(value, str):
        return mask_text(value)
    if column != "payload" or not isinstance(value, str):
        return value
    try:
        return json.dumps(mask_payload(json.loads(value)), ensure_ascii=False)
    except ValueError:
        return mask_text(value)
