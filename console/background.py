"""A daemon thread a service runs until told to stop (the book indexer, the text indexer)."""

from __future__ import annotations

import threading
from typing import Self


class BackgroundLoop:
    """`start` runs `_run` in a daemon thread named `thread_name`; `_run` loops until `_stop`
    is set and waits on it between rounds, so `stop` ends it after the current round."""

    thread_name = "background"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
