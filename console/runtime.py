"""Which Lean the console talks to: real Lean with credentials, the embedded sandbox without."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from lean_api import LeanClient, LeanSettings
from lean_api.auth import TokenProvider
from lean_api.errors import ConfigurationError, LeanError

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
_receivers: dict[tuple[str, str | None], WebhookReceiver] = {}

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_SECRET_FILE = ROOT / "data" / "embedded-webhook-secret"
DEFAULT_SANDBOX_PORT = 8601


def embedded_webhook_secret() -> str:
    """The secret the embedded sandbox signs its webhooks with.

    Made once and kept in `data/` (readable by its owner only), so the console, a receiver run
    on its own and `python -m console.replay` all sign and verify alike without configuration.
    Only used when no Lean credentials are set: it protects nothing but local sandbox data.
    """
    with _lock:
        try:
            secret = EMBEDDED_SECRET_FILE.read_text().strip()
        except OSError:
            secret = ""
        if len(secret) < 32:
            secret = secrets.token_hex(32)
            EMBEDDED_SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(EMBEDDED_SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(secret)
        return secret


def has_lean_credentials() -> bool:
    """True unless this is the embedded sandbox: credentials are configured, or production asked
    for (its missing credentials are a configuration error, never the sandbox's data)."""
    try:
        settings = LeanSettings.from_env()
        return settings.has_credentials or settings.environment == "production"
    except LeanError:
        # A half-configured Lean is not the embedded sandbox: its secret must not be used.
        return True


def embedded_sandbox() -> SandboxServer:
    """The process's embedded Lean sandbox, started on first call."""
    global _embedded
    with _lock:
        if _embedded is None:
            # Imported here so a console with credentials never loads the sandbox.
            from sandbox.app import SandboxConfig
            from sandbox.server import SandboxServer

            _embedded = SandboxServer(SandboxConfig(), port=_sandbox_port()).start()
            log.info("embedded Lean sandbox listening on %s", _embedded.url)
        return _embedded


def _sandbox_port() -> int:
    """`LEAN_SANDBOX_PORT`, else 8601 (the README's examples) when free, else any free port."""
    configured = os.environ.get("LEAN_SANDBOX_PORT", "").strip()
    if configured.isascii() and configured.isdigit() and int(configured) < 65536:
        return int(configured)
    if configured:
        log.warning(
            "LEAN_SANDBOX_PORT=%r is not a port; using %d", configured[:20], DEFAULT_SANDBOX_PORT
        )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", DEFAULT_SANDBOX_PORT))
        except OSError:
            return 0
    return DEFAULT_SANDBOX_PORT


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
    elif settings.environment == "production":
        raise ConfigurationError(
            "LEAN_ENV=production needs LEAN_CLIENT_ID and LEAN_CLIENT_SECRET; without them the "
            "console would show its embedded sandbox's made-up data as production."
        )
    else:
        sandbox = embedded_sandbox()
        client_settings = LeanSettings(
            client_id=sandbox.config.client_id,
            client_secret=SecretStr(sandbox.config.client_secret),
            environment="sandbox",
            api_url=sandbox.url,
            auth_url=sandbox.url,
            webhook_secret=settings.webhook_secret or SecretStr(embedded_webhook_secret()),
            call_budget=settings.call_budget,
        )
        environment = Environment("embedded", sandbox.url)
    backend = Backend(LeanClient(client_settings), environment, client_settings)
    # Every call the screens make goes to the request log of the database in use at the time.
    from console.request_log import record_calls

    record_calls(backend.client, get_store)
    # …and to /metrics (calls by route and outcome, latency, token renewals).
    from console.metrics import observe_lean_call

    backend.client.add_observer(observe_lean_call)
    with _lock:
        return _backends.setdefault(settings, backend)


def shared_tokens(settings: LeanSettings) -> TokenProvider | None:
    """The token provider of the process's backend using `settings`, if there is one: a second
    client for the same credentials (the book sync's) shares its tokens instead of asking Lean
    for its own, so the process renews each token once whatever the number of clients."""
    with _lock:
        for backend in _backends.values():
            if backend.settings == settings:
                return backend.client.tokens
    return None


def get_store() -> EventStore:
    """The event store for `DATABASE_URL` (default: a SQLite file under `data/`).

    Opening it does not touch the database (each call migrates on first use), so a database
    that is down is reported by the calls that need it, not here.
    """
    from console.store import DEFAULT_DATABASE_URL, EventStore

    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = EventStore(url)
    return store


def get_receiver() -> WebhookReceiver:
    """The webhook receiver, verifying with the configured (or embedded) webhook secret.

    Raises `LeanError` when Lean's own settings are invalid, `StoreUnavailable` when
    DATABASE_URL cannot be used; the receiver's own settings never raise (see `problem`).
    """
    from console.webhooks import receiver_from_env

    backend = get_backend()
    store = get_store()
    secret = (
        backend.settings.webhook_secret.get_secret_value()
        if backend.settings.webhook_secret
        else None
    )
    key = (store.url, secret)
    with _lock:
        receiver = _receivers.get(key)
    if receiver is None:
        receiver = receiver_from_env(store, secret)
        with _lock:
            receiver = _receivers.setdefault(key, receiver)
    return receiver
