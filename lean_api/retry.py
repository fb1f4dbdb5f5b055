"""One retry policy for every call to Lean (API and token), bounded by a total time budget.

A call gets a `CallBudget` when it starts. Every attempt's connect/read timeouts are clipped to
what is left of it, a wait (backoff or `Retry-After`) that would overrun it is not slept, and the
token fetch a call needs spends from the same budget. So a hanging Lean costs a caller at most the
budget, never timeout × retries.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import requests

from lean_api.errors import APIConnectionError, APITimeoutError, LeanAPIError, LeanError

log = logging.getLogger(__name__)

DEFAULT_CALL_BUDGET = 10.0
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# An attempt with less time than this left cannot get an answer; the budget counts as spent.
MIN_ATTEMPT_SECONDS = 0.05

Timeout = tuple[float, float]

# The monotonic moment by which every call made in this context must be done, and the total it
# stands for (for the message): a screen's budget, shared by all the calls it makes.
_overall: ContextVar[tuple[float, float] | None] = ContextVar("lean_overall_deadline", default=None)


@contextmanager
def overall_deadline(seconds: float, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Every call to Lean made inside shares one total budget of `seconds` (a screen's wait).

    Each call still has its own budget; it gets whichever ends first. Nested deadlines only
    ever shorten.
    """
    end = clock() + seconds
    outer = _overall.get()
    if outer is not None and outer[0] <= end:
        end, seconds = outer
    token = _overall.set((end, seconds))
    try:
        yield
    finally:
        _overall.reset(token)


@dataclass
class CallBudget:
    """The total time one call to Lean may take, across its token fetch, attempts and waits."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    # The budget named in messages when this call's is what was left of a larger one.
    total: float | None = None
    started: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"A call budget must be positive, not {self.seconds!r}.")
        self.started = self.clock()

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.seconds - (self.clock() - self.started))

    @property
    def exhausted(self) -> bool:
        """True when too little is left for another attempt."""
        return self.remaining() < MIN_ATTEMPT_SECONDS

    def clip(self, timeout: Timeout, *, method: str = "", url: str = "") -> Timeout:
        """`timeout` (connect, read) shortened to what is left; raise if nothing is left."""
        left = self.remaining()
        if left < MIN_ATTEMPT_SECONDS:
            raise self.timeout_error(method=method, url=url)
        return (min(timeout[0], left), min(timeout[1], left))

    def timeout_error(self, *, method: str = "", url: str = "") -> APITimeoutError:
        """The error for a call that ran out of its budget."""
        total = self.total or self.seconds
        return APITimeoutError(
            f"Lean did not answer within the {total:g} s budget.",
            method=method,
            url=url,
            budget=total,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a call to Lean is retried.

    `max_retries` bounds the retries after the first attempt; backoff is exponential with full
    jitter (a random wait between 0 and `backoff_base × 2^(retry-1)`, at most `backoff_max`);
    `Retry-After` is honoured exactly. `call_budget` bounds the whole call, waits included.
    """

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    call_budget: float = DEFAULT_CALL_BUDGET
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries cannot be negative.")
        if not self.call_budget > 0:
            raise ValueError(f"call_budget must be positive, not {self.call_budget!r}.")

    def budget(self) -> CallBudget:
        """A fresh budget for one call, cut short by an `overall_deadline` around it."""
        overall = _overall.get()
        if overall is not None:
            left = overall[0] - time.monotonic()
            if left < self.call_budget:
                return CallBudget(
                    max(left, MIN_ATTEMPT_SECONDS / 2), clock=self.clock, total=overall[1]
                )
        return CallBudget(self.call_budget, clock=self.clock)

    def backoff_ceiling(self, retry: int) -> float:
        """The longest backoff before retry number `retry` (1-based)."""
        return min(self.backoff_max, self.backoff_base * 2 ** (retry - 1))

    def backoff(self, retry: int) -> float:
        """A backoff before retry number `retry`, with full jitter."""
        # Full jitter spreads the retries of many callers hitting the same outage.
        return random.uniform(0.0, self.backoff_ceiling(retry))

    def start(self, budget: CallBudget, what: str) -> Retries:
        """The retry state of one call; `what` names it in the logs ("GET /banks/v1/")."""
        return Retries(self, budget, what)


class Retries:
    """The retries one call has used. Call `wait_or_raise` after each failed attempt."""

    def __init__(self, policy: RetryPolicy, budget: CallBudget, what: str) -> None:
        self.policy = policy
        self.budget = budget
        self.what = what
        self.used = 0

    def wait_or_raise(
        self, error: LeanError, *, retry: bool, cause: BaseException | None = None
    ) -> None:
        """Sleep before the next attempt, or raise `error` when retrying is unsafe or pointless.

        `retry` says whether this failure may be retried at all (the method is safe, or the
        request never left). The error is raised at once when the retries are used up, when the
        budget is spent, or when the wait (backoff or `Retry-After`) would overrun the budget:
        a caller is better served by "try again in 120 s" now than by a screen frozen for it.
        """
        retry_after = error.retry_after if isinstance(error, LeanAPIError) else None
        if not retry or self.used >= self.policy.max_retries or self.budget.exhausted:
            raise error from cause
        delay = retry_after if retry_after is not None else self.policy.backoff(self.used + 1)
        if delay + MIN_ATTEMPT_SECONDS > self.budget.remaining():
            log.warning(
                "lean %s: not waiting %.2fs, only %.2fs left of the %gs budget",
                self.what,
                delay,
                self.budget.remaining(),
                self.budget.seconds,
            )
            raise error from cause
        self.used += 1
        log.warning(
            "lean retry %d/%d of %s in %.2fs after %s",
            self.used,
            self.policy.max_retries,
            self.what,
            delay,
            _short(error),
        )
        self.policy.sleep(delay)


def retryable_status(status_code: int) -> bool:
    """True for the statuses worth another attempt: 429 and the transient 5xx."""
    return status_code in RETRYABLE_STATUSES


def connection_error(
    exc: requests.RequestException,
    *,
    method: str,
    url: str,
    budget: CallBudget,
    server: str = "Lean",
) -> APIConnectionError:
    """The `APIConnectionError` (or `APITimeoutError`) for a failed attempt."""
    never_sent = isinstance(exc, requests.ConnectTimeout) or _refused(exc)
    if isinstance(exc, requests.Timeout):
        if budget.exhausted:
            error = budget.timeout_error(method=method, url=url)
            error.request_sent = not never_sent
            return error
        kind = "connect" if isinstance(exc, requests.ConnectTimeout) else "read"
        return APITimeoutError(
            f"{server} did not answer within the {kind} timeout.",
            method=method,
            url=url,
            request_sent=not never_sent,
        )
    return APIConnectionError(
        f"Could not reach {server} ({type(exc).__name__}).",
        method=method,
        url=url,
        request_sent=not never_sent,
    )


def _refused(exc: requests.RequestException) -> bool:
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text


def _short(error: LeanError) -> str:
    if isinstance(error, LeanAPIError):
        return f"{error.status_code} {error.code or ''}".strip()
    return type(error).__name__
