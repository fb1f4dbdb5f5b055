"""Tokens: fetched once, shared, renewed before expiry, re-fetched once on 401, secret never shown."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import jwt
import pytest
import requests
from pydantic import SecretStr

from lean_api import (
    APITimeoutError,
    AuthenticationError,
    LeanClient,
    LeanSettings,
    RateLimitError,
    ServerError,
)
from lean_api.auth import TokenProvider, token_expiry
from lean_api.models import AccessToken
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer


def provider_for(sandbox: SandboxServer, clock: Callable[[], float] = time.time) -> TokenProvider:
    return TokenProvider(
        sandbox.url,
        sandbox.config.client_id,
        SecretStr(sandbox.config.client_secret),
        session=requests.Session(),
        clock=clock,
    )


def test_many_calls_share_one_token(client: LeanClient, sandbox: SandboxServer) -> None:
    before = sandbox.state.stats["token_requests"]
    for _ in range(25):
        client.list_customers(0, 1)
    assert client.tokens.fetch_count == 1
    assert sandbox.state.stats["token_requests"] - before == 1


def test_token_is_renewed_shortly_before_expiry(sandbox: SandboxServer) -> None:
    now = [time.time()]
    tokens = provider_for(sandbox, clock=lambda: now[0])
    first = tokens.token()
    now[0] += 3000  # 599 s left: still comfortably valid
    assert tokens.token() == first
    now[0] += 560  # 39 s left, inside the 60 s renewal margin
    second = tokens.token()
    assert second != first
    assert tokens.fetch_count == 2


def test_concurrent_callers_share_one_renewal(sandbox: SandboxServer) -> None:
    sandbox.faults.set(FaultConfig(latency_ms=300, include_auth=True, path_prefix="/oauth2"))
    tokens = provider_for(sandbox)
    results: list[str] = []
    barrier = threading.Barrier(16)

    def call() -> None:
        barrier.wait()
        results.append(tokens.token())

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 16
    assert tokens.fetch_count == 1


KEY = "a-test-signing-key-of-at-least-32-bytes"


def test_expiry_is_the_earlier_of_expires_in_and_jwt_exp() -> None:
    issued = 1_000_000.0
    short_jwt = jwt.encode({"exp": int(issued) + 120}, KEY, algorithm="HS256")
    assert (
        token_expiry(AccessToken(access_token=short_jwt, expires_in=3599), issued) == issued + 120
    )
    long_jwt = jwt.encode({"exp": int(issued) + 7200}, KEY, algorithm="HS256")
    assert (
        token_expiry(AccessToken(access_token=long_jwt, expires_in=3599), issued) == issued + 3599
    )
    assert token_expiry(AccessToken(access_token="opaque", expires_in=60), issued) == issued + 60


def test_revoked_token_triggers_one_reauthentication(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    client.list_customers(0, 1)
    old_key = sandbox.state.signing_key
    sandbox.state.signing_key = b"rotated-" + old_key  # every issued token is now invalid
    try:
        page = client.list_customers(0, 1)
    finally:
        sandbox.state.signing_key = old_key
    assert page.items
    assert client.tokens.fetch_count == 2


def test_persistent_401_is_retried_only_once(client: LeanClient, sandbox: SandboxServer) -> None:
    client.list_customers(0, 1)
    sandbox.faults.set(
        FaultConfig(
            error_rate=1.0,
            error_status=401,
            error_code="UNAUTHORIZED",
            path_prefix="/customers",
            remaining=10,
        )
    )
    with pytest.raises(AuthenticationError) as caught:
        client.list_customers(0, 1)
    assert caught.value.status_code == 401
    assert sandbox.faults.config.remaining == 8  # the call and exactly one retry


def test_customer_token_has_link_lifetime_and_customer_scope(
    client: LeanClient, sandbox: SandboxServer
) -> None:
    customer_id = next(iter(sandbox.state.data.customers))
    token = client.customer_token(customer_id)
    claims = jwt.decode(token.value, options={"verify_signature": False})
    assert claims["lean_scope"] == f"customer.{customer_id}"
    assert claims["exp"] - time.time() >= 600
    assert client.customer_token(customer_id) is token  # cached


def test_wrong_secret_is_an_authentication_error_without_the_secret(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "this-is-the-wrong-secret-do-not-log"
    settings = LeanSettings(
        client_id=sandbox.config.client_id,
        client_secret=SecretStr(secret),
        api_url=sandbox.url,
        auth_url=sandbox.url,
    )
    client = LeanClient(settings)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as caught:
        client.list_customers()
    assert caught.value.code == "invalid_client"
    everything = " ".join(
        [
            caplog.text,
            str(caught.value),
            repr(caught.value),
            repr(settings),
            repr(client),
            repr(client.tokens),
        ]
    )
    assert secret not in everything
    assert "invalid_client" in str(caught.value)


def test_settings_repr_hides_secrets(sandbox: SandboxServer) -> None:
    settings = LeanSettings.from_env(
        {**sandbox.env(), "LEAN_WEBHOOK_SECRET": "whsec-visible?"}, dotenv_path=None
    )
    assert sandbox.config.client_secret not in repr(settings)
    assert "whsec-visible?" not in repr(settings)


# -- the token fetch follows the client's retry policy and budget --------------------------------


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def auth_fault(**options: object) -> FaultConfig:
    return FaultConfig(include_auth=True, path_prefix="/oauth2", **options)  # type: ignore[arg-type]


def test_token_fetch_obeys_max_retries(settings: LeanSettings, sandbox: SandboxServer) -> None:
    sleeps = SleepRecorder()
    client = LeanClient(settings, max_retries=1, backoff_base=0.01, sleep=sleeps)
    sandbox.faults.set(
        auth_fault(error_rate=1.0, error_status=503, error_code="UNAVAILABLE", remaining=10)
    )
    with pytest.raises(ServerError):
        client.list_customers(0, 1)
    assert sandbox.faults.config.remaining == 8  # the fetch and exactly one retry
    assert len(sleeps.delays) == 1


def test_token_fetch_honours_a_short_retry_after(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    sleeps = SleepRecorder()
    client = LeanClient(settings, call_budget=2.0, sleep=sleeps)
    sandbox.faults.set(auth_fault(error_rate=1.0, error_status=429, retry_after=0.3, remaining=1))
    assert client.list_customers(0, 1).items
    assert sleeps.delays == [0.3]


def test_token_fetch_with_a_long_retry_after_is_rate_limited_at_once(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    sleeps = SleepRecorder()
    client = LeanClient(settings, call_budget=2.0, sleep=sleeps)
    sandbox.faults.set(auth_fault(error_rate=1.0, error_status=429, retry_after=120, remaining=10))
    with pytest.raises(RateLimitError) as caught:
        client.list_customers(0, 1)
    assert caught.value.retry_after == 120
    assert sleeps.delays == []
    assert sandbox.faults.config.remaining == 9


def test_a_hanging_token_fetch_spends_the_budget_of_the_call(
    settings: LeanSettings, sandbox: SandboxServer
) -> None:
    client = LeanClient(settings, timeout=(5.0, 30.0), call_budget=1.5)
    sandbox.faults.set(auth_fault(hang_seconds=2.5))
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as caught:
        client.list_customers(0, 1)
    assert time.monotonic() - started < 1.5 + 1.5
    assert caught.value.budget == 1.5
    assert "within the 1.5 s budget" in caught.value.message
