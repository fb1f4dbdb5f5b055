"""What one call to Lean was, for whoever keeps a record of them (the request log, metrics).

`LeanClient.add_observer(fn)` hands every observer one `LeanCall` per logical call: the path as
sent, its route with the ids named (`/customers/v1/{customer_id}`), the final status and outcome,
Lean's code and `results_id`, the retries and the total latency, and who asked (`calling_as`).
A call never carries a body: only the ids Lean needs to find things (customer, entity, refresh).
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from urllib.parse import unquote, urlencode

from lean_api.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    LeanAPIError,
)

log = logging.getLogger(__name__)

TOKEN_ROUTE = "/oauth2/token"

# The outcome of a call, in the words the request log filters on, with what each means.
OUTCOMES: dict[str, str] = {
    "ok": "Lean answered with what was asked",
    "not_found": "Lean does not know the customer, entity, account or refresh (404)",
    "lean_error": "Lean refused the request (4xx: parameters, consent, credentials, conflict)",
    "rate_limited": "Lean asked the console to slow down (429)",
    "server_error": "Lean failed on its side (5xx)",
    "timeout": "Lean did not answer in time",
    "connection_error": "Lean could not be reached",
    "invalid_response": "Lean answered with a body the console cannot read",
    "failed": "the call stopped in the console before Lean answered",
}


@dataclass(frozen=True)
class LeanCall:
    """One logical call to Lean (all its attempts), as the request log and metrics see it."""

    at: datetime  # when the call started (UTC)
    method: str
    path: str  # as sent: ids and query string included, never a body
    route: str  # the path with ids named: /customers/v1/{customer_id}/entities
    status: int | None  # the last HTTP status Lean gave; None: no answer at all
    outcome: str  # a key of OUTCOMES
    lean_code: str | None  # Lean's own code (its `status` field), e.g. CONSENT_EXPIRED
    results_id: str | None
    latency_ms: float  # the whole call: token fetch, attempts and waits
    retries: int
    caller: str | None  # which screen (or job) asked
    on_behalf_of: str | None  # the person signed in, when a person asked
    customer_id: str | None
    entity_id: str | None
    refresh_id: str | None
    message: str | None  # why it failed, in Lean's or the client's words (never a body)

    @property
    def ok(self) -> bool:
        """True when Lean answered with what was asked."""
        return self.outcome == "ok"


Observer = Callable[[LeanCall], None]

# -------------------------------------------------------------------------------------------
# Who is asking
# -------------------------------------------------------------------------------------------

_caller: contextvars.ContextVar[tuple[str | None, str | None]] = contextvars.ContextVar(
    "lean_caller", default=(None, None)
)


@contextmanager
def calling_as(caller: str, on_behalf_of: str | None = None) -> Iterator[None]:
    """Every call to Lean made inside is recorded as asked by `caller` (a screen, a job) for
    `on_behalf_of` (the person signed in). Context variables do not follow work handed to other
    threads: use `in_this_context` for that."""
    token = _caller.set((caller, on_behalf_of))
    try:
        yield
    finally:
        _caller.reset(token)


def current_caller() -> tuple[str | None, str | None]:
    """(caller, on_behalf_of) of the calls made here; (None, None) outside `calling_as`."""
    return _caller.get()


P = ParamSpec("P")
R = TypeVar("R")


def in_this_context(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, run in a copy of the current context wherever it is called: hand it to a thread pool
    so the calls it makes are still recorded as the screen's (and keep the screen's deadline)."""
    context = contextvars.copy_context()

    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # A context can be entered by one thread at a time: each run gets its own copy.
        return context.copy().run(fn, *args, **kwargs)

    return run


def keep_caller(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, called as the current caller wherever it runs later (a Streamlit fragment's rerun),
    without carrying anything else of this context (a screen's deadline would be long past)."""
    caller, on_behalf_of = current_caller()

    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if caller is None:
            return fn(*args, **kwargs)
        with calling_as(caller, on_behalf_of):
            return fn(*args, **kwargs)

    return run


# -------------------------------------------------------------------------------------------
# Routes and ids
# -------------------------------------------------------------------------------------------

_ID = r"([^/?#]+)"
# Lean's paths, most specific first; each names its ids. Literal words (`entities`,
# `app-user-id`, data types) must never be taken for an id.
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(rf"^/customers/v1/app-user-id/{_ID}/?$"),
        "/customers/v1/app-user-id/{app_user_id}",
    ),
    (re.compile(r"^/customers/v1/entities/?$"), "/customers/v1/entities"),
    (
        re.compile(rf"^/customers/v1/{_ID}/entities/{_ID}/?$"),
        "/customers/v1/{customer_id}/entities/{entity_id}",
    ),
    (re.compile(rf"^/customers/v1/{_ID}/entities/?$"), "/customers/v1/{customer_id}/entities"),
    (re.compile(rf"^/customers/v1/{_ID}/?$"), "/customers/v1/{customer_id}"),
    (
        re.compile(rf"^/data/v2/accounts/{_ID}/([a-z][a-z_-]*)/?$"),
        "/data/v2/accounts/{account_id}/{data_type}",
    ),
    (re.compile(rf"^/data/v2/accounts/{_ID}/?$"), "/data/v2/accounts/{account_id}"),
    (re.compile(rf"^/data/v2/refreshes/{_ID}/?$"), "/data/v2/refreshes/{refresh_id}"),
]
# A segment kept as it is in an unknown path: a word or a version, never something id-like.
_WORD = re.compile(r"^(v\d{1,2}|[a-z][a-z_-]{0,39})$")
_ROUTE_MAX = 200


def route_of(path: str) -> str:
    """The path with its ids named: `/customers/v1/9f…/entities` → `/customers/v1/{customer_id}/
    entities`. Routes are few (a metrics label, a filter): an unknown path keeps only its words,
    every other segment becomes `{id}`."""
    bare = (path or "/").split("?", 1)[0].split("#", 1)[0] or "/"
    if not bare.startswith("/"):
        bare = "/" + bare
    for pattern, route in _ROUTES:
        match = pattern.match(bare)
        if match is None:
            continue
        if route.endswith("{data_type}"):
            return route.replace("{data_type}", match.group(2))
        return route
    segments = bare.split("/")
    named = [s if not s or _WORD.match(s) else "{id}" for s in segments]
    return "/".join(named)[:_ROUTE_MAX]


def ids_in(
    path: str, params: Mapping[str, Any] | None = None, body: Any = None
) -> dict[str, str | None]:
    """The customer, entity and refresh ids a call names: in its path, its query and the
    `entity_id` / `customer_id` of a JSON body, and nothing else of that body."""
    found: dict[str, str | None] = {"customer_id": None, "entity_id": None, "refresh_id": None}
    bare = (path or "").split("?", 1)[0]
    for pattern, route in _ROUTES:
        match = pattern.match(bare)
        if match is None:
            continue
        names = re.findall(r"\{(\w+)\}", route)
        for name, value in zip(names, match.groups(), strict=False):
            if name in found:
                found[name] = _id_text(unquote(value))
        break
    for source in (params or {}), (body if isinstance(body, Mapping) else {}):
        for name in ("customer_id", "entity_id"):
            if found[name] is None:
                found[name] = _id_text(source.get(name))
    return found


def ids_answered(body: Any) -> dict[str, str | None]:
    """The ids a successful answer hands back at its top level (a new customer's
    `customer_id`, a triggered refresh's `refresh_id`) and its `results_id`."""
    if not isinstance(body, Mapping):
        return {}
    return {
        name: _id_text(body.get(name))
        for name in ("customer_id", "entity_id", "refresh_id", "results_id")
        if _id_text(body.get(name))
    }


def _id_text(value: Any) -> str | None:
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text[:64] or None


def endpoint_of(path: str, params: Mapping[str, Any] | None = None) -> str:
    """The path as sent, with its query string (the client never puts a secret or personal data
    in a query)."""
    query = urlencode({k: v for k, v in (params or {}).items() if v is not None}, doseq=True)
    return f"{path}?{query}" if query else path


# -------------------------------------------------------------------------------------------
# Outcomes
# -------------------------------------------------------------------------------------------


def outcome_of_status(status: int) -> str:
    """The outcome word of an HTTP status."""
    if status < 400:
        return "ok"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    return "lean_error"


def outcome_of_error(exc: BaseException) -> str:
    """The outcome word of an exception a call ended with."""
    if isinstance(exc, APITimeoutError):
        return "timeout"
    if isinstance(exc, APIConnectionError):
        return "connection_error"
    if isinstance(exc, APIResponseValidationError):
        return "invalid_response"
    if isinstance(exc, LeanAPIError):
        return outcome_of_status(exc.status_code)
    return "failed"


# A Saudi national ID or Iqama number: ten digits starting with 1 or 2, standing alone.
_NATIONAL_ID = re.compile(r"(?<!\d)[12]\d{9}(?!\d)")
_MESSAGE_MAX = 300


def safe_message(text: str | None) -> str | None:
    """A message fit to keep: one line, bounded, with anything shaped like a national ID removed
    (an error may quote what it refused)."""
    if not text:
        return None
    line = " ".join(str(text).split())
    line = _NATIONAL_ID.sub("[national id removed]", line)
    return line[:_MESSAGE_MAX] or None


def token_call(
    scope: str,
    at: datetime,
    started: float,
    status: int | None,
    retries: int,
    error: BaseException | None,
) -> LeanCall:
    """The record of a token fetch (`started` is its `time.monotonic()`): never the secret nor
    the token; a customer token names its customer."""
    lean_error = error if isinstance(error, LeanAPIError) else None
    customer = scope.removeprefix("customer.") if scope.startswith("customer.") else None
    caller, on_behalf_of = current_caller()
    if error is None:
        message = f"token for scope {scope}"
    else:
        message = getattr(error, "message", None) or type(error).__name__
    return LeanCall(
        at=at,
        method="POST",
        path=TOKEN_ROUTE,
        route=TOKEN_ROUTE,
        status=status,
        outcome="ok" if error is None else outcome_of_error(error),
        lean_code=lean_error.code if lean_error else None,
        results_id=None,
        latency_ms=(time.monotonic() - started) * 1000,
        retries=retries,
        caller=caller,
        on_behalf_of=on_behalf_of,
        customer_id=_id_text(customer),
        entity_id=None,
        refresh_id=None,
        message=safe_message(message),
    )


# -------------------------------------------------------------------------------------------
# Observers
# -------------------------------------------------------------------------------------------


class Observers:
    """The functions told of every call. Telling them never breaks or fails a call: an
    observer's exception is swallowed (logged the first time for each observer)."""

    def __init__(self) -> None:
        self._observers: tuple[Observer, ...] = ()
        self._complained: set[int] = set()
        self._lock = threading.Lock()

    def add(self, fn: Observer) -> None:
        """Tell `fn` of every call from now on (adding the same function twice is a no-op)."""
        with self._lock:
            if fn not in self._observers:
                self._observers = (*self._observers, fn)

    def __bool__(self) -> bool:
        return bool(self._observers)

    def report(self, call: LeanCall) -> None:
        """Hand `call` to every observer, each on its own."""
        for fn in self._observers:
            try:
                fn(call)
            except Exception:
                if id(fn) in self._complained:
                    log.debug("lean call observer %r failed again", fn, exc_info=True)
                    continue
                self._complained.add(id(fn))
                log.exception(
                    "lean call observer %r failed; the call went on (further failures of this "
                    "observer are logged at debug level only)",
                    fn,
                )


__all__ = [
    "OUTCOMES",
    "TOKEN_ROUTE",
    "LeanCall",
    "Observer",
    "Observers",
    "calling_as",
    "current_caller",
    "endpoint_of",
    "ids_answered",
    "ids_in",
    "in_this_context",
    "keep_caller",
    "outcome_of_error",
    "outcome_of_status",
    "route_of",
    "safe_message",
    "token_call",
]
