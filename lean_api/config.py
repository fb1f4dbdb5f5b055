"""Settings for talking to Lean, read from the environment or a `.env` file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import SecretStr

from lean_api.errors import ConfigurationError
from lean_api.retry import DEFAULT_CALL_BUDGET

LeanEnvironment = Literal["sandbox", "production"]

# Lean's KSA hosts. Both are overridable (LEAN_API_URL / LEAN_AUTH_URL) for proxies,
# tests and the embedded sandbox.
HOSTS: dict[str, tuple[str, str]] = {
    "sandbox": ("https://sandbox.sa.leantech.me", "https://auth.sandbox.sa.leantech.me"),
    "production": ("https://api2.sa.leantech.me", "https://auth.sa.leantech.me"),
}


@dataclass(frozen=True)
class LeanSettings:
    """Everything the client needs to reach Lean. The secret never shows in `repr`."""

    client_id: str | None = None
    client_secret: SecretStr | None = field(default=None, repr=False)
    app_token: str | None = None
    environment: LeanEnvironment = "sandbox"
    api_url: str = HOSTS["sandbox"][0]
    auth_url: str = HOSTS["sandbox"][1]
    webhook_secret: SecretStr | None = field(default=None, repr=False)
    # Total seconds one call to Lean may take, retries, waits and token fetch included.
    call_budget: float = DEFAULT_CALL_BUDGET

    @property
    def has_credentials(self) -> bool:
        """True when both the client id and its secret are configured."""
        return bool(self.client_id and self.client_secret and self.client_secret.get_secret_value())

    @property
    def uses_default_hosts(self) -> bool:
        """True when neither host was overridden for the chosen environment."""
        return (self.api_url, self.auth_url) == HOSTS[self.environment]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env"
    ) -> LeanSettings:
        """Read settings from `environ` (default: the process), falling back to a `.env` file."""
        values = read_environment(environ, dotenv_path)

        def get(name: str) -> str | None:
            value = values.get(name, "").strip()
            return value or None

        environment = (get("LEAN_ENV") or "sandbox").lower()
        if environment not in HOSTS:
            raise ConfigurationError(
                f"LEAN_ENV must be 'sandbox' or 'production', not {environment!r}."
            )
        default_api, default_auth = HOSTS[environment]
        secret = get("LEAN_CLIENT_SECRET")
        client_id = get("LEAN_CLIENT_ID")
        if client_id and not secret:
            raise ConfigurationError("LEAN_CLIENT_ID is set but LEAN_CLIENT_SECRET is missing.")
        webhook_secret = get("LEAN_WEBHOOK_SECRET")
        return cls(
            client_id=client_id,
            client_secret=SecretStr(secret) if secret else None,
            app_token=get("LEAN_APP_TOKEN"),
            environment=environment,  # type: ignore[arg-type]
            api_url=_clean_url(get("LEAN_API_URL") or default_api, "LEAN_API_URL"),
            auth_url=_clean_url(get("LEAN_AUTH_URL") or default_auth, "LEAN_AUTH_URL"),
            webhook_secret=SecretStr(webhook_secret) if webhook_secret else None,
            call_budget=_seconds(get("LEAN_CALL_BUDGET_SECONDS"), "LEAN_CALL_BUDGET_SECONDS")
            or DEFAULT_CALL_BUDGET,
        )


def _seconds(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}.")
    return seconds


def read_environment(
    environ: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env"
) -> dict[str, str]:
    """`environ` (default: the process's) over a `.env` file: the environment wins."""
    values: dict[str, str] = {}
    if dotenv_path and Path(dotenv_path).is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def _clean_url(url: str, name: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{name} must start with http:// or https://, got {url!r}.")
    return url.rstrip("/")
