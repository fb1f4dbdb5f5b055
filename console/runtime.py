"""Which Lean the console talks to: real Lean with credentials, the embedded sandbox without."""

from __future__ import annotations

import logging
import os
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from lean_api import LeanClient, LeanSettings

if TYPE_CHECKING:
    from console.store import EventStore
    from console.webhooks import WebhookReceiver
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
_stores: dict[str, EventStore] = {}
_receivers: dict[tuple[str, str | None, str], WebhookReceiver] = {}
# In embedded mode the sandbox signs webhooks with a secret made for this process, so the real
# verification path runs even though nobody configured LEAN_WEBHOOK_SECRET.
_embedded_webhook_secret = secrets.token_hex(32)


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
            webhook_secret=settings.webhook_secret or SecretStr(_embedded_webhook_secret),
        )
        environment = Environment("embedded", sandbox.url)
    backend = Backend(LeanClient(client_settings), environment, client_settings)
    with _lock:
        return _backends.setdefault(settings, backend)


def get_store() -> EventStore:
    """The event store for `DATABASE_URL` (default: a SQLite file under `data/`), migrated."""
    from console.store import DEFAULT_DATABASE_URL, EventStore

    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = EventStore(url)
    store.migrate()
    return store


def get_receiver() -> WebhookReceiver:
    """The webhook receiver, verifying with the configured (or embedded) webhook secret."""
    from console.webhooks import ReceiverConfig, WebhookReceiver

    backend = get_backend()
    store = get_store()
    secret = (
        backend.settings.webhook_secret.get_secret_value()
        if backend.settings.webhook_secret
        else None
    )
    allowed = os.environ.get("LEAN_WEBHOOK_ALLOWED_IPS", "")
    key = (store.url, secret, allowed)
    with _lock:
        receiver = _receivers.get(key)
        if receiver is None:
            config = ReceiverConfig(
                secret=secret, allowed_networks=ReceiverConfig.parse_networks(allowed)
            )
            receiver = _receivers[key] = WebhookReceiver(store, config)
        return receiver
