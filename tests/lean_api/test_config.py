"""Settings come from the environment or .env, with Lean's KSA hosts by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from lean_api import ConfigurationError, LeanSettings
from lean_api.config import HOSTS


def test_defaults_point_at_the_ksa_sandbox_without_credentials() -> None:
    settings = LeanSettings.from_env({}, dotenv_path=None)
    assert (settings.api_url, settings.auth_url) == HOSTS["sandbox"]
    assert not settings.has_credentials


def test_production_hosts_and_overrides() -> None:
    prod = LeanSettings.from_env({"LEAN_ENV": "production"}, dotenv_path=None)
    assert prod.api_url == "https://api2.sa.leantech.me"
    assert prod.auth_url == "https://auth.sa.leantech.me"
    custom = LeanSettings.from_env(
        {
            "LEAN_ENV": "production",
            "LEAN_API_URL": "https://proxy.internal/lean/",
            "LEAN_AUTH_URL": "http://127.0.0.1:9",
        },
        dotenv_path=None,
    )
    assert custom.api_url == "https://proxy.internal/lean"
    assert custom.auth_url == "http://127.0.0.1:9"
    assert not custom.uses_default_hosts


def test_dotenv_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "LEAN_CLIENT_ID=from-file\nLEAN_CLIENT_SECRET=file-secret\nLEAN_APP_TOKEN=app\n"
    )
    settings = LeanSettings.from_env({"LEAN_CLIENT_ID": "from-env"}, dotenv_path=dotenv)
    assert settings.client_id == "from-env"
    assert (
        settings.client_secret is not None
        and settings.client_secret.get_secret_value() == "file-secret"
    )
    assert settings.app_token == "app"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LEAN_ENV": "staging"}, "LEAN_ENV"),
        ({"LEAN_CLIENT_ID": "id-without-secret"}, "LEAN_CLIENT_SECRET"),
        ({"LEAN_API_URL": "sandbox.sa.leantech.me"}, "LEAN_API_URL"),
    ],
)
def test_bad_settings_say_which_variable_is_wrong(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LeanSettings.from_env(environ, dotenv_path=None)


def test_call_budget_is_read_from_the_environment() -> None:
    assert LeanSettings.from_env({}, dotenv_path=None).call_budget == 10.0
    settings = LeanSettings.from_env({"LEAN_CALL_BUDGET_SECONDS": "2.5"}, dotenv_path=None)
    assert settings.call_budget == 2.5


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_a_call_budget_that_cannot_work_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="LEAN_CALL_BUDGET_SECONDS"):
        LeanSettings.from_env({"LEAN_CALL_BUDGET_SECONDS": value}, dotenv_path=None)
