"""OAuth client-credentials tokens: fetched once, shared, renewed shortly before they expire."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
import requests
from pydantic import SecretStr, ValidationError

from lean_api.calls import LeanCall, token_call
from lean_api.errors import (
    APIResponseValidationError,
    AuthenticationError,
    error_from_response,
)
from lean_api.models import AccessToken
from lean_api.retry import CallBudget, Retries, RetryPolicy, connection_error, retryable_status

log = logging.getLogger(__name__)

API_SCOPE = "api"
# The Link SDK refuses a customer token with less than ten minutes left.
LINK_MIN_LIFETIME = 600.0


@dataclass(frozen=True)
class CachedToken:
    """A token and the moment (epoch seconds) it stops being valid."""

    value: str
    scope: str
    issued_at: float
    expires_at: float

    def __repr__(self) -> str:
        return f"CachedToken(scope={self.scope!r}, expires_at={self.expires_at:.0f})"

    def seconds_left(self, now: float) -> float:
        """Validity left at `now`."""
        return self.expires_at - now


def token_expiry(token: AccessToken, issued_at: float) -> float:
    """When a token expires: the earlier of `expires_in` and the JWT's `exp` claim."""
    candidates: list[float] = []
    if token.expires_in:
        candidates.append(issued_at + float(token.expires_in))
    try:
        claims = jwt.decode(token.access_token, options={"verify_signature": False})
        if isinstance(claims.get("exp"), int | float):
            candidates.append(float(claims["exp"]))
    except jwt.PyJWTError:
        pass  # Opaque tokens are allowed; expires_in then decides alone.
    # With neither, assume Lean's usual hour rather than caching forever.
    return min(candidates) if candidates else issued_at + 3599


class _FetchTrace:
    """What a token fetch went through (for its report)."""

    status: int | None = None
    retries: Retries | None = None


class TokenProvider:
    """Hands out bearer tokens per scope, renewing each once for all concurrent callers.

    Fetching a token follows the client's `RetryPolicy`; a fetch made for an API call spends that
    call's `CallBudget`, waiting for another caller's renewal included.
    """

    def __init__(
        self,
        auth_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        session: requests.Session,
        timeout: tuple[float, float] = (5.0, 15.0),
        renew_margin: float = 60.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        on_call: Callable[[LeanCall], None] | None = None,
    ) -> None:
        self._token_url = f"{auth_url.rstrip('/')}/oauth2/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._session = session
        self._timeout = timeout
        self._renew_margin = renew_margin
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._cache: dict[str, CachedToken] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.fetch_count = 0
        # Told of every token fetch (never of the secret): the client's observers.
        self._on_call = on_call

    def __repr__(self) -> str:
        return f"TokenProvider(token_url={self._token_url!r}, client_id={self._client_id!r})"

    @property
    def client_id(self) -> str:
        """The OAuth client the tokens are issued to."""
        return self._client_id

    def token(self, scope: str = API_SCOPE, *, budget: CallBudget | None = None) -> str:
        """A valid bearer token for `scope`, from the cache when it has enough life left.

        A fetch spends `budget` (the budget of the call that needs the token; default: its own).
        """
        return self._get(scope, min_lifetime=0.0, budget=budget).value

    def customer_token(self, customer_id: str, *, budget: CallBudget | None = None) -> CachedToken:
        """A `customer.<id>` token for the Link SDK, with at least ten minutes left."""
        return self._get(f"customer.{customer_id}", min_lifetime=LINK_MIN_LIFETIME, budget=budget)

    def invalidate(self, scope: str, value: str | None = None) -> None:
        """Forget the cached token for `scope` (only if it is still `value`, when given)."""
        with self._lock_for(scope):
            cached = self._cache.get(scope)
            if cached and (value is None or cached.value == value):
                del self._cache[scope]

    def _lock_for(self, scope: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(scope, threading.Lock())

    def _usable(self, cached: CachedToken | None, min_lifetime: float) -> bool:
        if cached is None:
            return False
        # Renew a little early so no request goes out with a token about to die; short-lived
        # tokens renew at 90% of their life rather than never being usable.
        margin = min(self._renew_margin, (cached.expires_at - cached.issued_at) * 0.1)
        return cached.seconds_left(self._clock()) > max(margin, min_lifetime)

    def _get(self, scope: str, *, min_lifetime: float, budget: CallBudget | None) -> CachedToken:
        cached = self._cache.get(scope)
        if self._usable(cached, min_lifetime):
            return cached  # type: ignore[return-value]
        budget = budget or self._retry.budget()
        lock = self._lock_for(scope)
        # Waiting for another caller's renewal spends our budget too.
        if not lock.acquire(timeout=budget.remaining()):
            raise budget.timeout_error(method="POST", url=self._token_url)
        try:
            # Another caller may have renewed while we waited for the lock.
            cached = self._cache.get(scope)
            if self._usable(cached, min_lifetime):
                return cached  # type: ignore[return-value]
            fresh = self._fetch_reported(scope, budget)
            self._cache[scope] = fresh
            return fresh
        finally:
            lock.release()

    def _fetch_reported(self, scope: str, budget: CallBudget) -> CachedToken:
        """`_fetch`, reported to `on_call` as one call: route, status, retries, no secret."""
        if self._on_call is None:
            return self._fetch(scope, budget)
        at, started, trace = datetime.now(UTC), time.monotonic(), _FetchTrace()
        error: BaseException | None = None
        try:
            return self._fetch(scope, budget, trace)
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._report(scope, at, started, trace, error)

    def _report(
        self,
        scope: str,
        at: datetime,
        started: float,
        trace: _FetchTrace,
        error: BaseException | None,
    ) -> None:
        if self._on_call is None:
            return
        retries = trace.retries.used if trace.retries else 0
        try:
            call = token_call(scope, at, started, trace.status, retries, error)
        except Exception:  # describing a fetch must never fail it
            log.exception("token fetch for scope %s: not reported to the observers", scope)
            return
        self._on_call(call)

    def _fetch(
        self, scope: str, budget: CallBudget, trace: _FetchTrace | None = None
    ) -> CachedToken:
        form = {
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "grant_type": "client_credentials",
            "scope": scope,
        }
        # Issuing a token has no side effect, so connection errors, 429 and 5xx are retried.
        retries = self._retry.start(budget, f"token {scope}")
        if trace is not None:
            trace.retries = retries
        while True:
            issued_at = self._clock()
            timeout = budget.clip(self._timeout, method="POST", url=self._token_url)
            try:
                self.fetch_count += 1
                response = self._session.post(
                    self._token_url,
                    data=form,
                    timeout=timeout,
                    headers={"Accept": "application/json"},
                )
            except requests.RequestException as exc:
                if trace is not None:
                    trace.status = None  # no answer this time, whatever an earlier attempt got
                error = connection_error(
                    exc,
                    method="POST",
                    url=self._token_url,
                    budget=budget,
                    server="Lean's auth server",
                )
                retries.wait_or_raise(error, retry=True, cause=exc)
                continue
            if trace is not None:
                trace.status = response.status_code
            if response.ok:
                return self._parse(response, scope, issued_at)
            refused = error_from_response(
                response.status_code,
                response.content,
                method="POST",
                url=self._token_url,
                retry_after=response.headers.get("Retry-After"),
            )
            if response.status_code in (400, 401, 403):
                raise AuthenticationError(
                    f"Lean's auth server refused the token request for scope {scope!r}: "
                    f"{refused.message}",
                    status_code=response.status_code,
                    code=refused.code,
                    method="POST",
                    url=self._token_url,
                ) from None
            retries.wait_or_raise(refused, retry=retryable_status(response.status_code))

    def _parse(self, response: requests.Response, scope: str, issued_at: float) -> CachedToken:
        try:
            token = AccessToken.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise APIResponseValidationError(
                "Lean's auth server answered without a usable access token.",
                status_code=response.status_code,
                body=b"",  # never echo a body that may carry a token
                url=self._token_url,
            ) from exc
        log.info("lean token issued scope=%s expires_in=%s", scope, token.expires_in)
        return CachedToken(token.access_token, scope, issued_at, token_expiry(token, issued_at))
