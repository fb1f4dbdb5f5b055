"""Fault injection for the sandbox: latency, errors, hangs and malformed bodies, on demand.

Set at start (`LEAN_SANDBOX_FAULTS="latency_ms=200,error_rate=0.1"` or `--faults`) or at run time
with `PUT /_sandbox/faults` (JSON), so the console's failure paths run against real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class FaultConfig:
    """What to break, and where.

    `error_rate` / `malformed_rate` are probabilities per matching request; `remaining` limits the
    faults to the next N matching requests (then they switch off), which makes "fails twice, then
    succeeds" reproducible. `path_prefix` narrows the faults to one family of endpoints.
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 500
    error_code: str = "INTERNAL_SERVER_ERROR"
    error_message: str = "Something has gone wrong. If you continue to see this error, please get in touch with Lean."
    retry_after: float | None = None
    hang_seconds: float = 0.0
    malformed_rate: float = 0.0
    path_prefix: str = ""
    include_auth: bool = False
    remaining: int | None = None
    seed: int = 0

    @property
    def active(self) -> bool:
        """True when any fault is configured."""
        return bool(
            self.latency_ms or self.error_rate or self.hang_seconds or self.malformed_rate
        ) and (self.remaining is None or self.remaining > 0)

    @classmethod
    def parse(cls, text: str | None) -> FaultConfig:
        """Read `key=value,key=value` or a JSON object; unknown keys are an error."""
        if not text or not text.strip():
            return cls()
        text = text.strip()
        if text.startswith("{"):
            return cls.from_mapping(json.loads(text))
        pairs = {}
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"Fault setting {part!r} is not key=value.")
            pairs[key.strip()] = value.strip()
        return cls.from_mapping(pairs)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> FaultConfig:
        """Build from a mapping, converting each value to its field's type."""
        known = {f.name: f for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"Unknown fault settings: {', '.join(sorted(unknown))}.")
        converted: dict[str, Any] = {}
        for key, value in values.items():
            kind = str(known[key].type)
            if value is None or (value == "" and "None" in kind):
                converted[key] = None
            elif kind.startswith("int"):
                converted[key] = int(value)
            elif kind.startswith("float"):
                converted[key] = float(value)
            elif kind.startswith("bool"):
                converted[key] = (
                    value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                )
            else:
                converted[key] = str(value)
        config = cls(**converted)
        for name in ("error_rate", "malformed_rate"):
            if not 0.0 <= getattr(config, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1.")
        return config


class FaultInjector:
    """Holds the current faults and decides, per request, which one applies."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.set(config or FaultConfig())

    def set(self, config: FaultConfig) -> None:
        """Replace the current faults."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)

    @property
    def config(self) -> FaultConfig:
        """The faults in force."""
        return self._config

    def as_dict(self) -> dict[str, Any]:
        """The faults in force, for the admin endpoint."""
        return asdict(self._config)

    def decide(self, path: str) -> tuple[float, float, bool, bool]:
        """(latency s, hang s, send error, send malformed body) for one request to `path`."""
        with self._lock:
            config = self._config
            if not config.active or path.startswith("/_sandbox"):
                return 0.0, 0.0, False, False
            if path.startswith("/oauth2") and not config.include_auth:
                return 0.0, 0.0, False, False
            if config.path_prefix and not path.startswith(config.path_prefix):
                return 0.0, 0.0, False, False
            if config.remaining is not None:
                self._config = replace(config, remaining=config.remaining - 1)
            error = self._rng.random() < config.error_rate
            malformed = not error and self._rng.random() < config.malformed_rate
            return config.latency_ms / 1000, config.hang_seconds, error, malformed


class FaultMiddleware:
    """ASGI middleware that applies the injector's decision before the real handler runs."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        latency, hang, error, malformed = self.injector.decide(scope["path"])
        if latency:
            await asyncio.sleep(latency)
        if hang:
            # Longer than any sane client timeout; the client gives up first.
            await asyncio.sleep(hang)
        config = self.injector.config
        if error:
            # The same envelope as the handlers' errors (imported here: the app imports this module).
            from sandbox.app import error_body

            body = json.dumps(error_body(config.error_code, config.error_message)).encode()
            headers = [(b"content-type", b"application/json")]
            if config.retry_after is not None:
                headers.append((b"retry-after", str(config.retry_after).encode()))
            await _send(send, config.error_status, body, headers)
            return
        if malformed:
            await _send(
                send,
                200,
                b'{"status": "OK", "data": [{"customer_id": ',
                [(b"content-type", b"application/json")],
            )
            return
        await self.app(scope, receive, send)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
