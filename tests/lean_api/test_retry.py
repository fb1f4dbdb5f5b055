"""The retry policy on its own: backoff windows, the call budget, and when a wait is not slept."""

from __future__ import annotations

import random

import pytest

from lean_api.errors import APITimeoutError, RateLimitError, ServerError
from lean_api.retry import CallBudget, RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def policy(clock: FakeClock, slept: list[float], **options: object) -> RetryPolicy:
    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    return RetryPolicy(sleep=sleep, clock=clock, **options)  # type: ignore[arg-type]


def server_error(retry_after: float | None = None) -> ServerError:
    return ServerError("down", status_code=503, retry_after=retry_after)


def test_backoff_windows_double_up_to_the_cap() -> None:
    rules = RetryPolicy(backoff_base=0.5, backoff_max=3.0)
    assert [rules.backoff_ceiling(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_uses_full_jitter() -> None:
    random.seed(7)
    rules = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    waits = [rules.backoff(3) for _ in range(200)]
    assert all(0.0 <= w <= 4.0 for w in waits)
    # The whole window is used, not only its upper half.
    assert min(waits) < 1.0 and max(waits) > 3.0


def test_timeouts_are_clipped_to_what_is_left() -> None:
    clock = FakeClock()
    budget = CallBudget(10.0, clock=clock)
    assert budget.clip((5.0, 30.0)) == (5.0, 10.0)
    clock.now += 7.5
    assert budget.clip((5.0, 30.0)) == (2.5, 2.5)
    clock.now += 2.5
    with pytest.raises(APITimeoutError, match="within the 10 s budget") as caught:
        budget.clip((5.0, 30.0), method="GET", url="/banks/v1/")
    assert caught.value.budget == 10.0


def test_retries_stop_at_max_retries() -> None:
    clock, slept = FakeClock(), []
    retries = policy(clock, slept, max_retries=2, backoff_base=0.1).start(
        CallBudget(10.0, clock=clock), "GET /x"
    )
    retries.wait_or_raise(server_error(), retry=True)
    retries.wait_or_raise(server_error(), retry=True)
    with pytest.raises(ServerError):
        retries.wait_or_raise(server_error(), retry=True)
    assert len(slept) == 2


def test_unsafe_failures_are_raised_without_waiting() -> None:
    clock, slept = FakeClock(), []
    retries = policy(clock, slept).start(CallBudget(10.0, clock=clock), "POST /x")
    with pytest.raises(ServerError):
        retries.wait_or_raise(server_error(), retry=False)
    assert slept == []


def test_a_backoff_that_would_overrun_the_budget_is_not_slept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, slept = FakeClock(), []
    rules = policy(clock, slept, backoff_base=4.0, backoff_max=4.0, call_budget=3.0)
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    retries = rules.start(rules.budget(), "GET /x")
    with pytest.raises(ServerError):
        retries.wait_or_raise(server_error(), retry=True)
    assert slept == []


def test_retry_after_is_waited_exactly_when_it_fits() -> None:
    clock, slept = FakeClock(), []
    rules = policy(clock, slept, call_budget=3.0)
    retries = rules.start(rules.budget(), "GET /x")
    retries.wait_or_raise(RateLimitError("slow down", status_code=429, retry_after=2.0), retry=True)
    assert slept == [2.0]
    # One second is left: a second Retry-After of two seconds is not waited.
    with pytest.raises(RateLimitError) as caught:
        retries.wait_or_raise(
            RateLimitError("slow down", status_code=429, retry_after=2.0), retry=True
        )
    assert caught.value.retry_after == 2.0
    assert slept == [2.0]


def test_a_budget_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(call_budget=0)
