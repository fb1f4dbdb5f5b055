"""Which Lean the console talks to: real Lean with credentials, the embedded sandbox without."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from lean_api import LeanClient, LeanSettings

if TYPE_CHECKING:
    from sandbox.server import SandboxServer

log = logging.getLogger(__name__)

EnvironmentKind = Literal["embedded", "sandbox", "production"]


@dataclass(frozen=True)
class Environment:
    """What the sidebar shows: which Lean this console is wired to."""

    kind: EnvironmentKind
    api_url: str

    @property
    def label(self) -> str:
        """Operator-facing name of the environment."""
        return {
            "embedded": "Embedded sandbox",
            "sandbox": "Lean sandbox",
            "production": "Production",
        }[self.kind]


@dataclass(frozen=True)
class Backend:
    """A configured client and the environment it points at."""

    client: LeanClient
    environment: Environment
    settings: LeanSettings

    @property
    def key(self) -> str:
        """Identifies the backend in cache keys, so environments never share cached answers."""
        return f"{self.environment.kind}:{self.environment.api_url}"


_lock = threading.Lock()
_backends: dict[LeanSettings, Backend] = {}
_embedded: SandboxServer | None = None


def embedded_sandbox() -> SandboxServer:
    """The process's embedded Lean sandbox, started on first call."""
    global _embedded
    with _lock:
        if _embedded is None:
            # Imported here so a console with credentials never loads the sandbox.
            from sandbox.app import SandboxConfig
            from sandbox.server import SandboxServer

            port = int(os.environ.get("LEAN_SANDBOX_PORT", "0") or 0)
            _embedded = SandboxServer(SandboxConfig(), port=port).start()
            log.info("embedded Lean sandbox listening on %s", _embedded.url)
        return _embedded


def get_backend(settings: LeanSettings | None = None) -> Backend:
    """The backend for `settings` (default: the environment), created once per configuration."""
    settings = settings or LeanSettings.from_env()
    with _lock:
        backend = _backends.get(settings)
    if backend is not None:
        return backend
    if settings.has_credentials:
        client_settings = settings
        environment = Environment(settings.environment, settings.api_url)
    else:
        sandbox = embedded_sandbox()
        client_settings = LeanSettings(
            client_id=sandbox.config.client_id,
            client_secret=SecretStr(sandbox.config.client_secret),
            environment="sandbox",
            api_url=sandbox.url,
            auth_url=sandbox.url,
            webhook_secret=settings.webhook_secret,
        )
        environment = Environment("embedded", sandbox.url)
    backend = Backend(LeanClient(client_settings), environment, client_settings)
    with _lock:
        return _backends.setdefault(settings, backend)
