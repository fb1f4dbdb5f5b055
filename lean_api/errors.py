"""One error hierarchy for everything that can go wrong talking to Lean.

LeanError
├── ConfigurationError            settings are missing or wrong
├── APIConnectionError            Lean could not be reached
│   └── APITimeoutError           ... or did not answer in time
├── APIResponseValidationError    Lean answered with a body we cannot read
└── LeanAPIError                  Lean answered with an error status
    ├── BadRequestError           400 (INVALID_PARAMETERS, ...)
    ├── AuthenticationError       401, or the token endpoint refused us
    ├── PermissionDeniedError     403
    │   └── ConsentExpiredError   403 CONSENT_EXPIRED
    ├── NotFoundError             404 (UNKNOWN_ENTITY, UNKNOWN_ACCOUNT, ...)
    ├── ConflictError             409 (CUSTOMER_ALREADY_EXISTS)
    ├── RateLimitError            429 (DUPLICATED_REQUEST, ...)
    └── ServerError               5xx
"""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Any


class LeanError(Exception):
    """Base of every error raised by `lean_api`."""


class ConfigurationError(LeanError):
    """The settings cannot work (missing secret, unknown LEAN_ENV, bad URL)."""


class APIConnectionError(LeanError):
    """Lean could not be reached (DNS, refused, reset, TLS).

    `request_sent` is False only when the request provably never left (refused, connect timeout),
    so even a POST may be sent again.
    """

    def __init__(
        self, message: str, *, method: str = "", url: str = "", request_sent: bool = True
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """Lean did not answer within the client's timeout, or within the call's total budget.

    `budget` is the call's budget in seconds when that is what ran out, else None.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        request_sent: bool = True,
        budget: float | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url, request_sent=request_sent)
        self.budget = budget


class APIResponseValidationError(LeanError):
    """Lean answered, but the body is not the JSON we expected."""

    def __init__(self, message: str, *, status_code: int, body: bytes = b"", url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body_excerpt = body[:200].decode("utf-8", "replace")
        self.url = url


class LeanAPIError(LeanError):
    """Lean answered with an error status.

    `status_code` is the HTTP status, `code` is Lean's own machine code (its `status` field, e.g.
    `CONSENT_EXPIRED`; unknown codes are kept as they come), `results_id` identifies the call for
    Lean's support.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        results_id: str | None = None,
        method: str = "",
        url: str = "",
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.results_id = results_id
        self.method = method
        self.url = url
        self.body = body
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [f"{self.status_code}"]
        if self.code:
            parts.append(self.code)
        text = f"[{' '.join(parts)}] {self.message}"
        if self.results_id:
            text += f" (results_id={self.results_id})"
        return text


class BadRequestError(LeanAPIError):
    """400: Lean rejected the parameters."""


class AuthenticationError(LeanAPIError):
    """401, or the OAuth token endpoint refused the credentials or scope."""


class PermissionDeniedError(LeanAPIError):
    """403: the call is not allowed."""


class ConsentExpiredError(PermissionDeniedError):
    """403 CONSENT_EXPIRED: the customer must reconnect the bank."""


class NotFoundError(LeanAPIError):
    """404: the customer, entity, account or results id is unknown to Lean."""


class ConflictError(LeanAPIError):
    """409: the resource already exists (CUSTOMER_ALREADY_EXISTS)."""


class RateLimitError(LeanAPIError):
    """429: too many requests, or the same request is already in progress (DUPLICATED_REQUEST)."""


class ServerError(LeanAPIError):
    """5xx: Lean failed; safe requests were already retried."""


_BY_STATUS: dict[int, type[LeanAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, OverflowError):
        return None


def error_from_response(
    status_code: int,
    content: bytes,
    *,
    method: str = "",
    url: str = "",
    retry_after: str | None = None,
) -> LeanAPIError:
    """Build the right `LeanAPIError` subclass from an error response's status and body."""
    body: Any = None
    try:
        body = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        body = None
    code = message = results_id = None
    if isinstance(body, dict):
        # Lean's API puts its code in `status`; the OAuth server uses `error`.
        code = _text(body.get("status")) or _text(body.get("error")) or _text(body.get("code"))
        message = _text(body.get("message")) or _text(body.get("error_description"))
        results_id = _text(body.get("results_id"))
    if not message:
        excerpt = content[:200].decode("utf-8", "replace").strip()
        message = excerpt or f"HTTP {status_code} with an empty body"
    if code == "CONSENT_EXPIRED":
        cls: type[LeanAPIError] = ConsentExpiredError
    elif status_code >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status_code, LeanAPIError)
    return cls(
        message,
        status_code=status_code,
        code=code,
        results_id=results_id,
        method=method,
        url=url,
        body=body,
        retry_after=parse_retry_after(retry_after),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
