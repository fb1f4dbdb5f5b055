"""A daemon thread a service runs until told to stop (the book indexer, the text indexer), and
the courtesy those services show the webhook receiver while it is busy."""

from __future__ import annotations

import threading
import time
from typing import Self

# Deliveries arriving at this rate or faster are a burst: background writers take small bites of
# SQLite's single write lock and leave most of it free. A trickle (Lean's usual pace, the
# embedded sandbox's feed) is not one, and the indexers follow it as closely as ever.
BUSY_DELIVERIES_PER_SECOND = 100
# A burst is over this long after the last second that reached the rate.
BUSY_WINDOW_SECONDS = 0.5
# Under ingest, a background writer pauses this many times as long as its last batch took, so
# it holds the write lock at most 1/(1 + share) of the time (20%) and still makes progress.
YIELD_FACTOR = 4.0
MAX_YIELD_SECONDS = 0.5
# A background writer sits out a burst of deliveries for at most this long; past it, it takes
# small bites (above) until the burst is over, so a steady stream cannot starve it.
MAX_DEFER_SECONDS = 30.0
# How often a writer sitting out looks again.
SIT_OUT_POLL_SECONDS = 0.1

_lock = threading.Lock()
_second = 0  # the whole monotonic second being counted
_count = 0  # deliveries committed in it
_last_busy = -1e9  # when a second last reached the rate


def note_ingest(deliveries: int = 1) -> None:
    """The receiver's writer handled a batch of `deliveries` (once per batch, from its thread;
    a batch the database refused counts too: it held, or waited for, the write lock all the
    same)."""
    global _second, _count, _last_busy
    now = time.monotonic()
    with _lock:
        if int(now) != _second:
            _second, _count = int(now), 0
        _count += deliveries
        if _count >= BUSY_DELIVERIES_PER_SECOND:
            _last_busy = now


def ingest_busy(window: float = BUSY_WINDOW_SECONDS) -> bool:
    """A burst: deliveries were committed in this process at `BUSY_DELIVERIES_PER_SECOND` or
    faster within `window` seconds."""
    return time.monotonic() - _last_busy < window


def yield_seconds(batch_seconds: float) -> float:
    """How long a background writer waits after a batch that took `batch_seconds`, so the
    receiver's commits are not queued behind it: 0 when no deliveries are arriving."""
    if not ingest_busy():
        return 0.0
    return min(max(batch_seconds, 0.0) * YIELD_FACTOR, MAX_YIELD_SECONDS)


class Courtesy:
    """When a background writer sits out: while deliveries arrive, for at most `max_defer`
    seconds between two times it caught up (then it takes small bites, `yield_seconds`, until
    it catches up again). A pause in the burst does not start the count again: bursts one
    second apart (a replayed delivery, say) would otherwise hold it back for good."""

    def __init__(self, max_defer: float = MAX_DEFER_SECONDS) -> None:
        self.max_defer = max_defer
        self._since: float | None = None

    def sit_out(self) -> bool:
        """True while the writer should leave the write lock to the receiver altogether."""
        if not ingest_busy():
            return False
        now = time.monotonic()
        if self._since is None:
            self._since = now
        return now - self._since < self.max_defer

    def caught_up(self) -> None:
        """The writer has nothing left to do: the next burst may be sat out again."""
        self._since = None


class BackgroundLoop:
    """`start` runs `_run` in a daemon thread named `thread_name`; `_run` loops until `_stop`
    is set and waits on it between rounds, so `stop` ends it after the current round.

    The loops are background writers (the book and text indexers): `courtesy` says when one
    leaves SQLite's write lock to the receiver (`_sitting_out`)."""

    thread_name = "background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.courtesy = Courtesy()

    def _sitting_out(self) -> bool:
        """A burst of deliveries is being sat out: a moment waited, True (the round is skipped);
        otherwise False at once."""
        if not self.courtesy.sit_out():
            return False
        self._stop.wait(SIT_OUT_POLL_SECONDS)
        return True

    def start(self) -> Self:
        """Run in a daemon thread until `stop` (again after a stop; once while running)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after its current round."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError
