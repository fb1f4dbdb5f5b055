"""Every failure becomes a sentence an operator can act on, with Lean's references."""

from __future__ import annotations

import json

import pytest

from console.messages import describe_error
from lean_api.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    ConfigurationError,
    error_from_response,
)


@pytest.mark.parametrize(
    ("status", "code", "headline", "action"),
    [
        (404, "UNKNOWN_ENTITY", "no such", "typos"),
        (403, "CONSENT_EXPIRED", "Consent expired — the customer must reconnect", "reconnect"),
        (409, "CUSTOMER_ALREADY_EXISTS", "already exists", "existing customer"),
        (429, "DUPLICATED_REQUEST", "already running for this bank connection", "Wait"),
        (404, "DATA_NOT_FOUND", "No data yet — trigger a refresh", "Trigger a refresh"),
        (401, "UNAUTHORIZED", "credentials", "LEAN_CLIENT_ID"),
        (403, "FORBIDDEN", "does not allow", "portal"),
        (400, "INVALID_PARAMETERS", "rejected", "Correct"),
        (500, "INTERNAL_SERVER_ERROR", "internal error", "escalate"),
        (418, "SOMETHING_NEW", "answered with an error", "escalate"),
    ],
)
def test_lean_errors_become_actionable_messages(
    status: int, code: str, headline: str, action: str
) -> None:
    body = f'{{"status": "{code}", "message": "SOMETHING from Lean", "results_id": "r-1"}}'.encode()
    message = describe_error(error_from_response(status, body), "entity")
    assert headline in message.headline
    assert action in message.action
    assert message.reference == f"HTTP {status} · {code} · results_id r-1"


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "INVALID_PARAMETERS"), (403, "FORBIDDEN"), (409, "SOMETHING_ELSE"), (418, "NEW")],
)
def test_leans_own_words_travel_as_detail_not_in_the_headline(status: int, code: str) -> None:
    hostile = "[click](https://evil.example) <img src=x onerror=alert(1)>"
    body = json.dumps({"status": code, "message": hostile, "results_id": "r-1"}).encode()
    message = describe_error(error_from_response(status, body))
    assert message.detail == hostile
    assert "evil" not in message.headline and "evil" not in message.action


def test_a_bad_setting_is_quoted_as_detail() -> None:
    message = describe_error(ConfigurationError("LEAN_ENV must be sandbox or production"))
    assert message.headline == "The console is misconfigured:"
    assert message.detail == "LEAN_ENV must be sandbox or production"


def test_timeout_of_an_action_warns_it_may_have_happened() -> None:
    lookup = describe_error(APITimeoutError("slow"))
    action = describe_error(APITimeoutError("slow"), changes_state=True)
    assert "Nothing was changed" in lookup.action
    assert "may or may not have happened" in action.action


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (APIConnectionError("down"), "could not reach"),
        (APIResponseValidationError("bad", status_code=200), "could not read"),
        (ConfigurationError("LEAN_ENV must be sandbox"), "misconfigured"),
        (RuntimeError("boom"), "Unexpected"),
    ],
)
def test_non_api_failures_are_explained(exc: Exception, words: str) -> None:
    assert words in describe_error(exc).headline


@pytest.mark.parametrize(
    ("retry_after", "sentence"),
    [
        ("120", "Lean is rate-limiting; try again in 120 s."),
        ("0.25", "Lean is rate-limiting; try again in 1 s."),
        (None, "Lean is rate-limiting; try again in a minute."),
    ],
)
def test_rate_limit_says_when_to_try_again(retry_after: str | None, sentence: str) -> None:
    body = b'{"status": "TOO_MANY_REQUESTS", "message": "slow down", "results_id": "r-2"}'
    message = describe_error(error_from_response(429, body, retry_after=retry_after))
    assert message.headline == sentence
    assert message.reference == "HTTP 429 · TOO_MANY_REQUESTS · results_id r-2"


def test_a_spent_budget_says_how_long_lean_was_given() -> None:
    spent = APITimeoutError("Lean did not answer within the 10 s budget.", budget=10.0)
    assert describe_error(spent).headline == "Lean did not answer within the 10 s budget."
