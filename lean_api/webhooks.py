"""Lean webhook signatures: one place that signs (the sandbox, replay tools, tests) and verifies.

Lean sends `lean-signature: sha512=<hex HMAC-SHA512 of the raw body>`. Verification works on the
raw bytes, before any parsing, with a constant-time comparison.
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import json
import re
import sys
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from lean_api.errors import LeanError
from lean_api.models import (
    BankAvailability,
    Entity,
    LeanDateTime,
    Refresh,
    normalize_refresh_status,
    parse_lean_datetime,
    sub_microsecond_nanos,
)

SIGNATURE_HEADER = "lean-signature"
_SCHEME = "sha512"
_HEX_DIGEST = re.compile(r"[0-9a-f]{128}", re.ASCII)
# Lean's envelopes are a few levels deep; anything far deeper is not a Lean webhook, and
# parsing or showing it would only exhaust the stack.
MAX_JSON_DEPTH = 64
# RFC 8259 lets a parser skip a BOM; the console refuses it (see `_load_json`) and says why.
BOM_REFUSED = "body starts with a byte-order mark; Lean sends plain UTF-8 JSON"


class SignatureVerificationError(LeanError):
    """The signature header is missing, malformed, or does not match the body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def compute_signature(payload: bytes, secret: str) -> str:
    """Hex HMAC-SHA512 of `payload` keyed with `secret`."""
    return hmac.new(secret.encode(), payload, hashlib.sha512).hexdigest()


def generate_signature_header(payload: bytes, secret: str) -> str:
    """The `lean-signature` header value for `payload`."""
    return f"{_SCHEME}={compute_signature(payload, secret)}"


def verify_signature(payload: bytes, header: str | None, secret: str) -> None:
    """Raise `SignatureVerificationError` unless `header` signs `payload` with `secret`."""
    if not header or not header.strip():
        raise SignatureVerificationError("missing signature header")
    scheme, sep, digest = header.strip().partition("=")
    if not sep or not digest:
        raise SignatureVerificationError("malformed signature header")
    if scheme.strip().lower() != _SCHEME:
        raise SignatureVerificationError(f"unsupported signature algorithm {scheme.strip()[:20]!r}")
    digest = digest.strip().lower()
    # Only hex of the right length can match; checking the shape first also keeps non-ASCII
    # header values (which `compare_digest` refuses on str) out of the comparison.
    if not _HEX_DIGEST.fullmatch(digest):
        raise SignatureVerificationError("malformed signature header")
    expected = compute_signature(payload, secret)
    if not hmac.compare_digest(expected.encode(), digest.encode()):
        raise SignatureVerificationError("signature does not match the body")


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------

KNOWN_EVENT_TYPES = (
    "entity.created",
    "entity.updated",
    "entity.data.refresh.updated",
    "bank.availability.updated",
)


class WebhookPayloadError(LeanError):
    """The body is not a Lean webhook envelope (not JSON, not an object, no `type`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookEvent(BaseModel):
    """A Lean webhook: `type`, `message`, `payload`, `event_id`, `timestamp`, plus anything new.

    `event_id` falls back to a digest of the raw body when Lean omits it (the guide's examples
    do), so a re-delivered identical body is still recognised as the same event.
    """

    model_config = ConfigDict(extra="allow")

    type: str
    message: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    event_id: str
    timestamp: LeanDateTime = None
    # Nanoseconds past `timestamp`'s microsecond, for ordering at Lean's full precision.
    _timestamp_nanos: int = PrivateAttr(default=0)

    @property
    def timestamp_nanos(self) -> int:
        """Nanoseconds past the microsecond of `timestamp` (0 when Lean sent fewer digits)."""
        return self._timestamp_nanos

    @property
    def is_known_type(self) -> bool:
        """True for the four types the console interprets; others are kept as they are."""
        return self.type in KNOWN_EVENT_TYPES

    def entity(self) -> Entity | None:
        """The entity of an `entity.created` / `entity.updated` event."""
        if self.type not in ("entity.created", "entity.updated"):
            return None
        try:
            return Entity.model_validate(self.payload)
        except ValidationError:
            return None

    def refresh(self) -> Refresh | None:
        """The refresh of an `entity.data.refresh.updated` event."""
        if self.type != "entity.data.refresh.updated":
            return None
        try:
            return Refresh.model_validate(self.payload)
        except ValidationError:
            return None

    def bank_availability(self) -> tuple[str, BankAvailability] | None:
        """(bank identifier, availability) of a `bank.availability.updated` event."""
        if self.type != "bank.availability.updated":
            return None
        try:
            availability = BankAvailability.model_validate(self.payload.get("availability") or {})
        except ValidationError:
            return None
        return str(self.payload.get("identifier") or ""), availability

    def index_fields(self) -> dict[str, str | None]:
        """The identifiers an operator filters by, wherever this event type keeps them."""
        payload = self.payload
        bank = payload.get("bank_details") if isinstance(payload.get("bank_details"), dict) else {}
        entity_id = payload.get("entity_id")
        if entity_id is None and self.type.startswith("entity.") and "refresh_id" not in payload:
            entity_id = payload.get("id")
        status = payload.get("status")
        if self.type == "entity.data.refresh.updated":
            status = normalize_refresh_status(status)
        elif self.type == "bank.availability.updated":
            availability = self.bank_availability()
            status = availability[1].state("data") if availability else None
        return {
            "customer_id": _text(payload.get("customer_id")),
            "entity_id": _text(entity_id),
            "app_user_id": _text(payload.get("app_user_id")),
            "bank_identifier": _text(
                payload.get("bank_identifier")
                or bank.get("identifier")
                or (payload.get("identifier") if self.type.startswith("bank.") else None)
            ),
            "refresh_id": _text(payload.get("refresh_id")),
            "status": _text(status),
        }


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:200] or None


def claimed_identity(payload: bytes) -> dict[str, str | None]:
    """What an unverified body says it is (type, event id, customer, entity), or nothing.

    For refused deliveries only: the answer is a claim, never trusted, and reading it never
    raises. Bodies that are not a JSON object of Lean's shape claim nothing.
    """
    claims: dict[str, str | None] = {
        "claimed_type": None,
        "claimed_event_id": None,
        "claimed_customer_id": None,
        "claimed_entity_id": None,
    }
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return claims
    if not isinstance(data, dict):
        return claims
    event_type = _text(data.get("type"))
    body = data.get("payload") if isinstance(data.get("payload"), dict) else {}
    entity_id = body.get("entity_id")
    if entity_id is None and (event_type or "").startswith("entity.") and "refresh_id" not in body:
        entity_id = body.get("id")
    claims.update(
        claimed_type=event_type,
        claimed_event_id=_text(data.get("event_id")),
        claimed_customer_id=_text(body.get("customer_id")),
        claimed_entity_id=_text(entity_id),
    )
    return claims


def body_digest(payload: bytes) -> str:
    """A stable id for a body without an `event_id`."""
    return "sha256:" + hashlib.sha256(payload).hexdigest()[:40]


def json_depth(value: Any) -> int:
    """How deeply `value` nests objects and arrays (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


# Nineteen digits in a row may be an integer past 64 bits, which orjson reads as a float: twenty
# past 2**64, nineteen after a minus sign below -2**63. Found by mapping every digit to "0"
# (bytes.translate, C speed; a regex took ~10 µs a kilobyte).
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_NUMBER = b"0" * 19


def _load_json(payload: bytes) -> Any:
    """The body's JSON value, read as the standard library reads UTF-8 text.

    orjson reads the bytes directly (a third of `json.loads`' time on a Lean event); whatever it
    refuses (lone surrogates, NaN, a BOM, deep nesting) or might read differently (integers past
    64 bits) is left to `json`, which decides and words the error.

    A leading byte-order mark is refused, not skipped: every reader of the stored body (inbox,
    book index, bank health, exports) reads it as plain JSON text, and the stored body stays the
    bytes that were signed. Python refuses integers of more than `sys.get_int_max_str_digits()`
    digits (a denial-of-service guard); such a body is refused with that reason.
    """
    if _LONG_NUMBER not in payload.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    if payload.startswith(codecs.BOM_UTF8):
        raise WebhookPayloadError(BOM_REFUSED)
    try:
        # Lean sends UTF-8; json.loads(bytes) would also guess UTF-16/32, and the stored body
        # would then not read back as the event that was parsed.
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookPayloadError("body is not UTF-8 text") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise WebhookPayloadError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise WebhookPayloadError(f"body is not valid JSON ({exc.__class__.__name__})") from None
    except ValueError as exc:
        # Not a syntax error: the only other ValueError `json` raises is int()'s digit limit.
        if "digits" in str(exc):
            raise WebhookPayloadError(
                f"a number in the body has more than {sys.get_int_max_str_digits():,} digits"
            ) from None
        raise WebhookPayloadError(f"body is not valid JSON ({exc.__class__.__name__})") from None


def same_body(first: str, second: str) -> bool:
    """True when two bodies of one event say the same thing: the same text, or the same JSON
    once read (re-sent pretty-printed, keys in another order, a newline at the end). `true` and
    `1`, or `1` and `1.0`, stay different."""
    if first == second:
        return True
    try:
        values = [_load_json(body.encode("utf-8", "surrogatepass")) for body in (first, second)]
    except WebhookPayloadError:
        return False
    canonical = [json.dumps(value, sort_keys=True, ensure_ascii=False) for value in values]
    return canonical[0] == canonical[1]


def parse_event(payload: bytes) -> WebhookEvent:
    """Parse a raw webhook body (after its signature was verified).

    Raises `WebhookPayloadError` for anything that is not a Lean envelope: not UTF-8, a leading
    byte-order mark, not JSON, a number past Python's digit limit, nested deeper than
    `MAX_JSON_DEPTH`, not an object, no type.
    """
    data = _load_json(payload)
    # A body cannot nest deeper than it has opening brackets; counting them is far cheaper than
    # walking the parsed value, and a real Lean event has a few dozen at most.
    if (
        payload.count(b"{") + payload.count(b"[") > MAX_JSON_DEPTH
        and json_depth(data) > MAX_JSON_DEPTH
    ):
        raise WebhookPayloadError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(data, dict):
        raise WebhookPayloadError("body is JSON but not an object")
    if not isinstance(data.get("type"), str) or not data["type"].strip():
        raise WebhookPayloadError("body has no event type")
    if not isinstance(data.get("payload", {}), dict):
        raise WebhookPayloadError("payload is not an object")
    data = dict(data)
    payload_timestamp = data.get("timestamp")
    data.setdefault("payload", {})
    if not data.get("event_id") or isinstance(data["event_id"], dict | list | bool):
        data["event_id"] = body_digest(payload)
    data["event_id"] = str(data["event_id"])
    message = data.get("message")
    if (message is None or type(message) is str) and not any(key[:1] == "_" for key in data):
        # Every field is already of its type (`type`, `event_id` and `payload` checked above):
        # build the model without validating it again, as validation would have built it (a
        # third of parsing's time; `test_fast_envelope_equals_the_validated_one`).
        if "timestamp" in data:
            data["timestamp"] = parse_lean_datetime(data["timestamp"])
        event = WebhookEvent.model_construct(_fields_set=set(data), **data)
        event._timestamp_nanos = sub_microsecond_nanos(payload_timestamp)
        return event
    try:
        event = WebhookEvent.model_validate(data)
    except ValidationError as exc:
        raise WebhookPayloadError(f"envelope is malformed: {exc.errors()[0]['msg']}") from None
    event._timestamp_nanos = sub_microsecond_nanos(payload_timestamp)
    return event
