"""Serve ASGI apps on a loopback port in a background thread (embedded sandbox, tests, tools)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from sandbox.app import SandboxConfig, SandboxState, create_app
from sandbox.faults import FaultInjector


class ThreadedServer:
    """Any ASGI app, served by uvicorn in a daemon thread on a port bound up front."""

    def __init__(
        self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *, lifespan: str = "off"
    ) -> None:
        self.app = app
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan)
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> Any:
        """Serve in a daemon thread; returns once the port accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"asgi-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"The server did not start on {self.url}.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()


class SandboxServer(ThreadedServer):
    """A running sandbox: its URL, its credentials, and handles on its state and faults."""

    def __init__(
        self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SandboxConfig()
        super().__init__(create_app(self.config), host, port)

    @property
    def state(self) -> SandboxState:
        """The sandbox's data and counters."""
        return self.app.state.sandbox  # type: ignore[attr-defined]

    @property
    def faults(self) -> FaultInjector:
        """The fault injector, to break things on purpose."""
        return self.app.state.faults  # type: ignore[attr-defined]

    def env(self) -> dict[str, str]:
        """Environment variables that point the console at this sandbox."""
        return {
            "LEAN_CLIENT_ID": self.config.client_id,
            "LEAN_CLIENT_SECRET": self.config.client_secret,
            "LEAN_API_URL": self.url,
            "LEAN_AUTH_URL": self.url,
            "LEAN_ENV": "sandbox",
        }
