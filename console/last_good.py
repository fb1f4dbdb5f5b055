"""The last good answer Lean gave to each question, so a screen can keep showing it when Lean fails.

A screen's loader returns a `Snapshot` (the answer and when Lean gave it). `LastGood.get` runs the
loader and remembers its snapshot; when Lean then times out or fails for a passing reason, it hands
back the last good snapshot marked with that error, and the screen says how old it is:
"Lean did not answer; showing data from 4 min ago." Answers that are final ("no such customer",
"wrong credentials") are never papered over with old data.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from lean_api.errors import (
    APIConnectionError,
    APIResponseValidationError,
    LeanError,
    RateLimitError,
    ServerError,
)

T = TypeVar("T")

# Lean's passing troubles: worth showing the last good data for. Anything else is Lean's answer.
PASSING_FAILURES = (APIConnectionError, ServerError, RateLimitError, APIResponseValidationError)


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """An answer from Lean and when Lean gave it; `error` says why it could not be renewed."""

    value: T
    fetched_at: datetime
    error: LeanError | None = None

    @classmethod
    def now(cls, value: T) -> Snapshot[T]:
        """A snapshot of an answer Lean gave just now."""
        return cls(value, datetime.now(UTC))

    @property
    def stale(self) -> bool:
        """True when this is the last good answer, shown because a renewal failed."""
        return self.error is not None

    def age(self, now: datetime | None = None) -> timedelta:
        """How long ago Lean gave this answer."""
        return (now or datetime.now(UTC)) - self.fetched_at


def is_passing_failure(exc: BaseException) -> bool:
    """True when Lean timed out, was unreachable, limited us or failed on its side."""
    return isinstance(exc, PASSING_FAILURES)


class LastGood:
    """A process-wide keeper of the last good snapshot per (backend, question), thread-safe.

    It holds at most `max_entries` answers; the least recently used are forgotten first.
    """

    def __init__(self, max_entries: int = 256) -> None:
        self._max_entries = max_entries
        self._snapshots: OrderedDict[tuple[str, Hashable], Snapshot[Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, backend_key: str, asked: Hashable, load: Callable[[], Snapshot[T]]
    ) -> Snapshot[T]:
        """`load()`, remembered; on a passing failure the last good snapshot, marked stale.

        Raises the failure when it is final or when there is nothing good to show instead.
        """
        try:
            snapshot = load()
        except LeanError as exc:
            kept = self.last(backend_key, asked) if is_passing_failure(exc) else None
            if kept is None:
                raise
            return replace(kept, error=exc)
        self.remember(backend_key, asked, snapshot)
        return snapshot

    def remember(self, backend_key: str, asked: Hashable, snapshot: Snapshot[Any]) -> None:
        """Keep `snapshot` unless a newer one is already kept."""
        key = (backend_key, asked)
        with self._lock:
            kept = self._snapshots.get(key)
            if kept is None or kept.fetched_at <= snapshot.fetched_at:
                self._snapshots[key] = replace(snapshot, error=None)
            self._snapshots.move_to_end(key)
            while len(self._snapshots) > self._max_entries:
                self._snapshots.popitem(last=False)

    def last(self, backend_key: str, asked: Hashable) -> Snapshot[Any] | None:
        """The last good snapshot for the question, if any."""
        with self._lock:
            return self._snapshots.get((backend_key, asked))

    def clear(self) -> None:
        """Forget everything (tests, or a change of backend)."""
        with self._lock:
            self._snapshots.clear()


_last_good = LastGood()


def last_good() -> LastGood:
    """The process's keeper, shared by every session."""
    return _last_good


def describe_age(age: timedelta) -> str:
    """An age in the operator's words: "a moment ago", "40 s ago", "4 min ago", "2 h ago"."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 5:
        return "a moment ago"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def stale_notice(
    snapshot: Snapshot[Any], now: datetime | None = None, subject: str | None = None
) -> str:
    """What a screen says above last good data: "Lean did not answer; showing data from 4 min ago",
    or, naming the part of the screen, "…; showing the bank list from 4 min ago"."""
    if isinstance(snapshot.error, RateLimitError):
        why = "Lean is rate-limiting"
    elif isinstance(snapshot.error, APIConnectionError) or snapshot.error is None:
        why = "Lean did not answer"
    else:
        why = "Lean could not answer"
    what = f"the {subject}" if subject else "data"
    return f"{why}; showing {what} from {describe_age(snapshot.age(now))}."
