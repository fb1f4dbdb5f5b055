"""The Lean API client: one pooled session, explicit timeouts, safe retries, typed answers."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
from pydantic import BaseModel, ValidationError
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

from lean_api.auth import API_SCOPE, CachedToken, TokenProvider
from lean_api.calls import (
    LeanCall,
    Observers,
    current_caller,
    endpoint_of,
    ids_answered,
    ids_in,
    outcome_of_error,
    route_of,
    safe_message,
)
from lean_api.config import LeanSettings
from lean_api.errors import (
    APIResponseValidationError,
    ConfigurationError,
    LeanAPIError,
    error_from_response,
)
from lean_api.models import (
    ACCOUNT_DATA_MODELS,
    Account,
    Bank,
    Customer,
    DataResult,
    Entity,
    Identity,
    OwnershipVerification,
    Page,
    PageInfo,
    Refresh,
    RefreshTrigger,
    unwrap_page,
)
from lean_api.retry import Retries, RetryPolicy, connection_error, retryable_status

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Per-account data endpoints and the model each item is read into.
ACCOUNT_DATA_ENDPOINTS: dict[str, type[BaseModel]] = ACCOUNT_DATA_MODELS
USER_AGENT = "lean-ops-console/0.1"
# Connections kept open to Lean. The client is shared by every session of the process, and one
# customer view asks up to 20 things at once (console.customer_view): two views at once reuse
# their connections instead of opening (and discarding) new ones.
POOL_SIZE = 32


class LeanClient:
    """A thread-safe client for the Lean KSA API.

    `timeout` is (connect, read) seconds for every attempt; `max_retries` bounds the retries of
    safe requests on connection errors, timeouts, 429 and 5xx (exponential backoff with full
    jitter, honouring `Retry-After`). POSTs are retried only when the request provably never left.
    `call_budget` (default: `settings.call_budget`, `LEAN_CALL_BUDGET_SECONDS`) bounds one call in
    total: attempts are clipped to it, and a wait that would overrun it is not slept; the error is
    raised instead (a `RateLimitError` carrying `retry_after` for a long `Retry-After`).
    Token fetches follow the same `retry` policy and spend the budget of the call that needed them.
    `add_observer` tells a function of every call (see `lean_api.calls`); `caller` names who the
    calls are made for when no `calling_as` context does (a background job).
    `tokens` shares another client's `TokenProvider` (same credentials): a process asks Lean for
    one token per scope however many clients it makes (a background job's own client included).
    """

    def __init__(
        self,
        settings: LeanSettings,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_retries: int = 2,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        call_budget: float | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        caller: str | None = None,
        tokens: TokenProvider | None = None,
    ) -> None:
        if not settings.has_credentials:
            raise ConfigurationError("LEAN_CLIENT_ID and LEAN_CLIENT_SECRET are required.")
        self.settings = settings
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry = RetryPolicy(
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            call_budget=settings.call_budget if call_budget is None else call_budget,
            sleep=sleep,
        )
        self._session = session or _pooled_session()
        # Who the calls are recorded as when no `calling_as` names anyone (a background job).
        self.caller = caller
        self.observers = Observers()
        if tokens is not None and tokens.client_id != settings.client_id:
            raise ConfigurationError("A shared TokenProvider must hold the same credentials.")
        self.tokens = tokens or TokenProvider(
            settings.auth_url,
            settings.client_id or "",
            settings.client_secret,  # type: ignore[arg-type]
            session=self._session,
            timeout=(timeout[0], min(timeout[1], 15.0)),
            retry=self.retry,
            on_call=self._token_fetched,
        )

    def __repr__(self) -> str:
        return f"LeanClient(api_url={self.settings.api_url!r}, environment={self.settings.environment!r})"

    def close(self) -> None:
        """Release the pooled connections."""
        self._session.close()

    def _token_fetched(self, call: LeanCall) -> None:
        if self.observers:
            if call.caller is None and self.caller is not None:
                call = replace(call, caller=self.caller)
            self.observers.report(call)

    # ---------------------------------------------------------------------------------------
    # Transport
    # ---------------------------------------------------------------------------------------

    def add_observer(self, fn: Callable[[LeanCall], None]) -> None:
        """Tell `fn` of every call this client makes, token fetches included: one `LeanCall` per
        logical call, after its last attempt. `fn` runs in the caller's thread, so it must be
        quick (hand the call to a queue); its exceptions are swallowed and never fail the call."""
        self.observers.add(fn)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        """Send one API call and return its decoded JSON body, or raise a `LeanError`.

        The whole call (token fetch, attempts and waits) stays within the client's call budget;
        the observers hear of it once, when it is over.
        """
        method = method.upper()
        params = {k: v for k, v in (params or {}).items() if v is not None}
        trace = _Trace()
        try:
            body = self._send(method, path, params, json, timeout, trace)
        except BaseException as exc:
            self._report(method, path, params, json, trace, error=exc)
            raise
        self._report(method, path, params, json, trace, body=body)
        return body

    def _report(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        json: Any,
        trace: _Trace,
        *,
        body: Any = None,
        error: BaseException | None = None,
    ) -> None:
        if not self.observers:
            return
        try:
            call = self._call(method, path, params, json, trace, body=body, error=error)
        except Exception:  # describing a call must never fail it
            log.exception("lean %s %s: not reported to the observers", method, path)
            return
        self.observers.report(call)

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        json: Any,
        timeout: tuple[float, float] | None,
        trace: _Trace,
    ) -> Any:
        url = f"{self.settings.api_url}{path}"
        safe = method in SAFE_METHODS
        budget = self.retry.budget()
        retries = trace.retries = self.retry.start(budget, f"{method} {path}")
        reauthenticated = False
        while True:
            token = self.tokens.token(API_SCOPE, budget=budget)
            started = time.monotonic()
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    timeout=budget.clip(timeout or self.timeout, method=method, url=url),
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                )
            except requests.RequestException as exc:
                trace.status = None  # this attempt got no answer, whatever an earlier one got
                error = connection_error(exc, method=method, url=url, budget=budget)
                retries.wait_or_raise(error, retry=safe or not error.request_sent, cause=exc)
                continue
            elapsed_ms = (time.monotonic() - started) * 1000
            trace.status = response.status_code
            log.info("lean %s %s -> %s in %.0f ms", method, path, response.status_code, elapsed_ms)

            if response.status_code == 401 and not reauthenticated:
                # The token may have been revoked or expired early: renew once and retry once.
                self.tokens.invalidate(API_SCOPE, token)
                reauthenticated = trace.reauthenticated = True
                continue
            if response.ok:
                return _decode(response, url)
            error = error_from_response(
                response.status_code,
                response.content,
                method=method,
                url=url,
                retry_after=response.headers.get("Retry-After"),
            )
            retries.wait_or_raise(error, retry=safe and retryable_status(response.status_code))

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        json: Any,
        trace: _Trace,
        *,
        body: Any = None,
        error: BaseException | None = None,
    ) -> LeanCall:
        """The record of a finished call: ids from its path, query and body's ids only."""
        ids = ids_in(path, params, json if method == "POST" else None)
        answered = ids_answered(body) if error is None else {}
        for name in ("customer_id", "entity_id", "refresh_id"):
            ids[name] = ids[name] or answered.get(name)
        caller, on_behalf_of = current_caller()
        lean_error = error if isinstance(error, LeanAPIError) else None
        return LeanCall(
            at=trace.at,
            method=method,
            path=endpoint_of(path, params),
            route=route_of(path),
            status=trace.status,
            outcome="ok" if error is None else outcome_of_error(error),
            lean_code=lean_error.code if lean_error else None,
            results_id=lean_error.results_id if lean_error else answered.get("results_id"),
            latency_ms=(time.monotonic() - trace.started) * 1000,
            retries=trace.retries_used,
            caller=caller or self.caller,
            on_behalf_of=on_behalf_of,
            customer_id=ids["customer_id"],
            entity_id=ids["entity_id"],
            refresh_id=ids["refresh_id"],
            message=None if error is None else safe_message(_reason(error)),
        )

    def _get_page(
        self,
        path: str,
        model: type[M],
        params: dict[str, Any],
        item_key: str | None = None,
    ) -> Page[M]:
        body = self.request("GET", path, params=params)
        items, page = unwrap_page(body, item_key)
        return _parametrized(Page, model)(
            items=[_validate(model, item, path) for item in items],
            page=PageInfo.model_validate(page or {}),
        )

    @staticmethod
    def _walk(fetch: Callable[[int], Page[M] | DataResult[M]]) -> Iterator[M]:
        number = 0
        while True:
            page = fetch(number)
            yield from page.items
            if not page.has_next:
                return
            number += 1

    # ---------------------------------------------------------------------------------------
    # Customers
    # ---------------------------------------------------------------------------------------

    def create_customer(self, app_user_id: str) -> Customer:
        """Create a customer; a taken `app_user_id` raises `ConflictError`."""
        body = self.request("POST", "/customers/v1/", json={"app_user_id": app_user_id})
        return _validate(Customer, body, "/customers/v1/")

    def get_customer(self, customer_id: str) -> Customer:
        """A customer by Lean's `customer_id`."""
        path = f"/customers/v1/{_segment(customer_id)}"
        return _validate(Customer, self.request("GET", path), path)

    def get_customer_by_app_user_id(self, app_user_id: str) -> Customer:
        """A customer by the company's `app_user_id`."""
        path = f"/customers/v1/app-user-id/{_segment(app_user_id)}"
        return _validate(Customer, self.request("GET", path), path)

    def list_customers(self, page_number: int = 0, page_size: int = 50) -> Page[Customer]:
        """One page of customers."""
        return self._get_page(
            "/customers/v1", Customer, {"page_number": page_number, "page_size": page_size}
        )

    def iter_customers(self, page_size: int = 100) -> Iterator[Customer]:
        """Every customer, page after page."""
        return self._walk(lambda n: self.list_customers(n, page_size))

    # ---------------------------------------------------------------------------------------
    # Entities
    # ---------------------------------------------------------------------------------------

    def list_entities(self, customer_id: str) -> list[Entity]:
        """The entities (bank connections) of a customer."""
        path = f"/customers/v1/{_segment(customer_id)}/entities"
        items, _ = unwrap_page(self.request("GET", path))
        return [_validate(Entity, item, path) for item in items]

    def get_entity(self, customer_id: str, entity_id: str) -> Entity:
        """One entity of a customer."""
        path = f"/customers/v1/{_segment(customer_id)}/entities/{_segment(entity_id)}"
        return _validate(Entity, self.request("GET", path), path)

    def list_entities_created(
        self, start_date: date, end_date: date, page_number: int = 0, page_size: int = 100
    ) -> Page[Entity]:
        """One page of the entities created between two dates."""
        params = {
            "page_number": page_number,
            "page_size": page_size,
            "start_date": start_date.isoformat(),
            "end_date": end_date.isoformat(),
        }
        return self._get_page("/customers/v1/entities", Entity, params)

    def iter_entities_created(
        self, start_date: date, end_date: date, page_size: int = 100
    ) -> Iterator[Entity]:
        """Every entity created between two dates."""
        return self._walk(lambda n: self.list_entities_created(start_date, end_date, n, page_size))

    # ---------------------------------------------------------------------------------------
    # Banks
    # ---------------------------------------------------------------------------------------

    def list_banks(self, account_type: str = "PERSONAL") -> list[Bank]:
        """The banks Lean offers for an account type, with their availability."""
        path = "/banks/v1/"
        items, _ = unwrap_page(self.request("GET", path, params={"account_types": account_type}))
        return [_validate(Bank, item, path) for item in items]

    # ---------------------------------------------------------------------------------------
    # Data v2
    # ---------------------------------------------------------------------------------------

    def list_accounts(self, entity_id: str, page: int = 0, size: int = 50) -> DataResult[Account]:
        """One page of an entity's accounts."""
        return self._data("/data/v2/accounts", Account, entity_id, page, size, "accounts")

    def iter_accounts(self, entity_id: str, size: int = 50) -> Iterator[Account]:
        """Every account of an entity."""
        return self._walk(lambda n: self.list_accounts(entity_id, n, size))

    def get_account_data(
        self, entity_id: str, account_id: str, data_type: str, page: int = 0, size: int = 50
    ) -> DataResult[Any]:
        """One page of one account's data: balances, transactions, beneficiaries, ..."""
        if data_type not in ACCOUNT_DATA_ENDPOINTS:
            raise ValueError(f"Unknown account data type {data_type!r}.")
        path = f"/data/v2/accounts/{_segment(account_id)}/{data_type}"
        model = ACCOUNT_DATA_ENDPOINTS[data_type]
        return self._data(path, model, entity_id, page, size, data_type)

    def iter_account_data(
        self, entity_id: str, account_id: str, data_type: str, size: int = 100
    ) -> Iterator[Any]:
        """Every record of one account's data type."""
        return self._walk(
            lambda n: self.get_account_data(entity_id, account_id, data_type, n, size)
        )

    def get_identity(self, entity_id: str) -> DataResult[Identity]:
        """The identity the bank holds for the entity's owner."""
        return self._data("/data/v2/identity", Identity, entity_id, 0, 50, "identities")

    def _data(
        self, path: str, model: type[M], entity_id: str, page: int, size: int, item_key: str
    ) -> DataResult[M]:
        body = self.request(
            "GET", path, params={"entity_id": entity_id, "page": page, "size": size}
        )
        if not isinstance(body, dict):
            raise APIResponseValidationError(
                f"Expected a data envelope from {path}.", status_code=200, url=path
            )
        items, page_info = unwrap_page(body, item_key)
        envelope = {k: v for k, v in body.items() if k not in ("data", "page")}
        return _parametrized(DataResult, model).model_validate(
            {
                **envelope,
                "items": [_validate(model, item, path) for item in items],
                "page": page_info or {"number": page, "size": size},
            }
        )

    # ---------------------------------------------------------------------------------------
    # Refreshes and verification
    # ---------------------------------------------------------------------------------------

    def trigger_refresh(self, entity_id: str) -> RefreshTrigger:
        """Ask Lean to fetch fresh data; expired consent raises `ConsentExpiredError`."""
        body = self.request("POST", "/data/v2/refreshes", json={"entity_id": entity_id})
        return _validate(RefreshTrigger, body, "/data/v2/refreshes")

    def list_refreshes(self, entity_id: str, page: int = 0, size: int = 50) -> Page[Refresh]:
        """One page of an entity's refreshes, newest first."""
        return self._get_page(
            "/data/v2/refreshes", Refresh, {"entity_id": entity_id, "page": page, "size": size}
        )

    def iter_refreshes(self, entity_id: str, size: int = 50) -> Iterator[Refresh]:
        """Every refresh of an entity."""
        return self._walk(lambda n: self.list_refreshes(entity_id, n, size))

    def get_refresh(self, refresh_id: str, entity_id: str) -> Refresh:
        """One refresh with its per-account, per-data-type status."""
        path = f"/data/v2/refreshes/{_segment(refresh_id)}"
        body = self.request("GET", path, params={"entity_id": entity_id})
        return _validate(Refresh, body, path)

    def verify_entity_ownership(self, entity_id: str, national_id: str) -> OwnershipVerification:
        """Check that the person with `national_id` owns the entity's accounts."""
        body = self.request(
            "POST",
            "/verifications/v2/entity",
            json={
                "entity_id": entity_id,
                "identifications": [{"type": "NATIONAL_ID", "value": national_id}],
            },
        )
        if not isinstance(body, dict):
            raise APIResponseValidationError(
                "Expected a verification object.", status_code=200, url="/verifications/v2/entity"
            )
        return OwnershipVerification.from_response(body)

    def customer_token(self, customer_id: str) -> CachedToken:
        """A customer-scoped token for the Link SDK (at least ten minutes left)."""
        return self.tokens.customer_token(customer_id)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


class _Trace:
    """What one call went through, filled in as its attempts happen."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)
        self.started = time.monotonic()
        self.status: int | None = None
        self.retries: Retries | None = None
        self.reauthenticated = False

    @property
    def retries_used(self) -> int:
        return (self.retries.used if self.retries else 0) + int(self.reauthenticated)


def _reason(error: BaseException) -> str:
    message = getattr(error, "message", None)
    return str(message) if message else (str(error) or type(error).__name__)


@functools.cache
def _parametrized(generic: Any, model: type[BaseModel]) -> Any:
    """`generic[model]` (a `Page` or `DataResult` of `model`), kept for the process. Pydantic keeps
    a parametrized model only weakly: the garbage collector dropped it between calls and the next
    call built its class and schema again (a tenth of the client's time on a customer view)."""
    return generic[model]


class _Session(requests.Session):
    """A session that reads the environment's proxy and CA-bundle settings once per origin.

    requests reads them again for every call, scanning the whole environment twice (a fifth of
    the client's time on a customer view). These are the same settings requests honours
    (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`),
    read when the process first calls an origin. `~/.netrc` is not read at all: an entry for Lean's
    host would have replaced the client's bearer token with a password."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self._origins: dict[str, tuple[dict[str, str], str | None]] = {}

    def merge_environment_settings(
        self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        scheme, netloc, *_ = urlsplit(url)
        origin = f"{scheme}://{netloc}"
        found = self._origins.get(origin)
        if found is None:  # two threads may both read it: they read the same
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            found = self._origins[origin] = (get_environ_proxies(url), bundle)
        environment_proxies, bundle = found
        proxies = {**environment_proxies, **(proxies or {})}
        if bundle and (verify is True or verify is None):
            verify = bundle
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def _pooled_session() -> requests.Session:
    session = _Session()
    # Retries are ours (they know which methods are safe); the adapter only pools.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def _segment(value: str) -> str:
    return quote(str(value), safe="")


def _decode(response: requests.Response, url: str) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise APIResponseValidationError(
            f"Lean answered {response.status_code} with a body that is not valid JSON.",
            status_code=response.status_code,
            body=response.content,
            url=url,
        ) from exc


def _validate(model: type[M], data: Any, where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise APIResponseValidationError(
            f"Lean's answer from {where} is missing required fields: "
            f"{', '.join('.'.join(map(str, e['loc'])) for e in exc.errors()[:3])}",
            status_code=200,
            url=where,
        ) from exc


__all__ = ["LeanAPIError", "LeanClient"]
