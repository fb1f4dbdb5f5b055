"""Lean webhook signatures: one place that signs (the sandbox, replay tools, tests) and verifies.

Lean sends `lean-signature: sha512=<hex HMAC-SHA512 of the raw body>`. Verification works on the
raw bytes, before any parsing, with a constant-time comparison.
"""

from __future__ import annotations

import hashlib
import hmac

from lean_api.errors import LeanError

SIGNATURE_HEADER = "lean-signature"
_SCHEME = "sha512"


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
        raise SignatureVerificationError(f"unsupported signature algorithm {scheme.strip()!r}")
    expected = compute_signature(payload, secret)
    if not hmac.compare_digest(expected, digest.strip().lower()):
        raise SignatureVerificationError("signature does not match the body")
