"""Run the sandbox on a loopback port in a background thread (embedded mode and tests)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette

from sandbox.app import SandboxConfig, SandboxState, create_app
from sandbox.faults import FaultInjector


class SandboxServer:
    """A running sandbox: its URL, its credentials, and handles on its state and faults."""

    def __init__(
        self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SandboxConfig()
        self.app: Starlette = create_app(self.config)
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of both the API and the token endpoint."""
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> SandboxState:
        """The sandbox's data and counters."""
        return self.app.state.sandbox

    @property
    def faults(self) -> FaultInjector:
        """The fault injector, to break things on purpose."""
        return self.app.state.faults

    def env(self) -> dict[str, str]:
        """Environment variables that point the console at this sandbox."""
        return {
            "LEAN_CLIENT_ID": self.config.client_id,
            "LEAN_CLIENT_SECRET": self.config.client_secret,
            "LEAN_API_URL": self.url,
            "LEAN_AUTH_URL": self.url,
            "LEAN_ENV": "sandbox",
        }

    def start(self, timeout: float = 10.0) -> SandboxServer:
        """Serve in a daemon thread; returns once the port accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="lean-sandbox",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"The Lean sandbox did not start on {self.url}.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()
