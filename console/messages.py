"""Turn any failure into a sentence an operator can act on, with what Lean's support needs."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from lean_api.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ConsentExpiredError,
    LeanAPIError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class OperatorMessage:
    """What happened, what to do next, and the references for escalation."""

    headline: str
    action: str
    severity: Severity = "error"
    code: str | None = None
    status_code: int | None = None
    results_id: str | None = None
    # The failure's own words (Lean's error message, a setting's complaint), shown after the
    # headline. Untrusted: screens show it literally, never as Markdown.
    detail: str | None = None

    @property
    def reference(self) -> str | None:
        """`HTTP 404 · UNKNOWN_ENTITY · results_id …`, for pasting into a ticket."""
        parts = []
        if self.status_code:
            parts.append(f"HTTP {self.status_code}")
        if self.code:
            parts.append(self.code)
        if self.results_id:
            parts.append(f"results_id {self.results_id}")
        return " · ".join(parts) or None


def describe_error(
    exc: Exception, subject: str = "record", *, changes_state: bool = False
) -> OperatorMessage:
    """An `OperatorMessage` for `exc`; `subject` names what was asked for ("customer", "entity")."""
    message = _describe(exc, subject, changes_state)
    if isinstance(exc, LeanAPIError):
        # Lean's references travel with every API error, for escalation.
        return replace(
            message, code=exc.code, status_code=exc.status_code, results_id=exc.results_id
        )
    return message


def _describe(exc: Exception, subject: str, changes_state: bool) -> OperatorMessage:
    lean_says = getattr(exc, "message", str(exc))

    if isinstance(exc, NotFoundError):
        if exc.code == "DATA_NOT_FOUND":
            return OperatorMessage(
                f"No data yet — trigger a refresh. Lean holds no {subject} for this bank "
                "connection yet.",
                "Trigger a refresh and look again once it has finished; it may take minutes.",
                "info",
            )
        return OperatorMessage(
            f"Lean has no such {subject}.",
            "Check the identifier for typos. Records from another environment (sandbox vs "
            "production) are not visible here.",
            "warning",
        )
    if isinstance(exc, ConsentExpiredError):
        return OperatorMessage(
            "Consent expired — the customer must reconnect.",
            "Ask the customer to reconnect the bank through Link; Lean cannot fetch fresh data "
            "until they do. Data fetched before the consent ended may still be shown.",
            "warning",
        )
    if isinstance(exc, ConflictError):
        if exc.code == "CUSTOMER_ALREADY_EXISTS":
            headline, detail = "A customer with this app_user_id already exists.", None
        else:
            headline, detail = "Lean reports a conflict:", lean_says
        return OperatorMessage(
            headline,
            "Open the existing customer instead of creating a new one.",
            "warning",
            detail=detail,
        )
    if isinstance(exc, RateLimitError):
        if exc.code == "DUPLICATED_REQUEST":
            return OperatorMessage(
                "A refresh is already running for this bank connection.",
                "Wait for it to finish (the console follows it, and its webhook reports "
                "progress) before starting another.",
                "info",
            )
        wait = f"{math.ceil(exc.retry_after)} s" if exc.retry_after else "a minute"
        return OperatorMessage(
            f"Lean is rate-limiting; try again in {wait}.",
            "Calls made sooner are refused as well. The console did not wait for it, so the "
            "screen stays usable meanwhile.",
            "warning",
        )
    if isinstance(exc, AuthenticationError):
        return OperatorMessage(
            "Lean refused the console's credentials.",
            "Check LEAN_CLIENT_ID, LEAN_CLIENT_SECRET and LEAN_ENV: sandbox credentials do not work "
            "in production, nor the other way round.",
        )
    if isinstance(exc, PermissionDeniedError):
        return OperatorMessage(
            "Lean does not allow this call for our application:",
            "Check the application's permissions in Lean's developer portal.",
            detail=lean_says,
        )
    if isinstance(exc, BadRequestError):
        return OperatorMessage(
            "Lean rejected the request:",
            "Correct the input. If it looks right, escalate to Lean with the reference below.",
            "warning",
            detail=lean_says,
        )
    if isinstance(exc, ServerError):
        return OperatorMessage(
            "Lean had an internal error and did not complete the call.",
            "Try again in a few minutes. If it keeps failing, escalate to Lean with the reference below.",
        )
    if isinstance(exc, LeanAPIError):
        return OperatorMessage(
            "Lean answered with an error:",
            "If this persists, escalate to Lean with the reference below.",
            detail=lean_says,
        )
    if isinstance(exc, APITimeoutError):
        action = (
            "The action may or may not have happened: check its result before trying again."
            if changes_state
            else "Lean may be slow or unavailable; try again shortly. Nothing was changed."
        )
        # "Lean did not answer within the 10 s budget." when the call's total budget ran out.
        headline = exc.message if exc.budget is not None else "Lean did not answer in time."
        return OperatorMessage(headline, action)
    if isinstance(exc, APIConnectionError):
        return OperatorMessage(
            "The console could not reach Lean.",
            "Check the network and LEAN_API_URL / LEAN_AUTH_URL; try again shortly.",
        )
    if isinstance(exc, APIResponseValidationError):
        return OperatorMessage(
            "Lean answered with something the console could not read.",
            "Try again; if it repeats, report it to engineering with the time of the call.",
            status_code=exc.status_code,
        )
    if isinstance(exc, ConfigurationError):
        return OperatorMessage(
            "The console is misconfigured:",
            "Fix the setting and restart the console.",
            detail=str(exc),
        )
    return OperatorMessage(
        f"Unexpected error: {type(exc).__name__}.",
        "Report it to engineering with the time it happened.",
    )
