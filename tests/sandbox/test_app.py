"""The sandbox speaks Lean's HTTP: OAuth refusals, envelopes, status codes, fault settings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import requests

from sandbox.app import SandboxConfig
from sandbox.faults import FaultConfig
from sandbox.server import SandboxServer
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def token_request(sandbox: SandboxServer, **overrides: str) -> requests.Response:
    form = {
        "client_id": sandbox.config.client_id,
        "client_secret": sandbox.config.client_secret,
        "grant_type": "client_credentials",
        "scope": "api",
        **overrides,
    }
    return requests.post(f"{sandbox.url}/oauth2/token", data=form, timeout=5)


def test_token_is_a_jwt_with_exp(sandbox: SandboxServer) -> None:
    body = token_request(sandbox).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert 3500 < claims["exp"] - time.time() <= 3600


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": "admin"}, 400, "invalid_scope"),
        ({"scope": "customer.00000000-0000-4000-8000-000000000000"}, 400, "invalid_scope"),
    ],
)
def test_token_endpoint_refuses_like_an_oauth_server(
    sandbox: SandboxServer, overrides: dict[str, str], status: int, error: str
) -> None:
    response = token_request(sandbox, **overrides)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_a_token_the_sandbox_issued_is_refused_once_it_expires() -> None:
    """Issued tokens are not verified again on each call, but their expiry still counts."""
    with SandboxServer(SandboxConfig(token_ttl=1)) as short_lived:
        token = token_request(short_lived).json()["access_token"]
        url = f"{short_lived.url}/banks/v1/"
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(url, headers=headers, timeout=5).status_code == 200
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        time.sleep(max(0.0, expires - time.time()))
        response = requests.get(url, headers=headers, timeout=5)
        assert response.status_code == 401 and "expired" in response.json()["message"]
        forged = jwt.encode(
            {"exp": int(time.time()) + 60, "lean_scope": "api"},
            b"not-the-signing-key-of-this-sandbox",
            algorithm="HS256",
        )
        response = requests.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=5)
        assert response.status_code == 401 and "not valid" in response.json()["message"]


def test_a_token_lives_at_least_the_expires_in_it_is_sent_with(sandbox: SandboxServer) -> None:
    """A client counts `expires_in` from the moment it asked; the token must not die earlier."""
    for _ in range(5):
        asked = time.time()
        body = token_request(sandbox).json()
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert claims["exp"] >= asked + body["expires_in"]
        assert claims["iat"] <= asked + 1 and claims["nbf"] <= time.time()
        time.sleep(0.1)


def test_api_refuses_missing_expired_and_customer_tokens(sandbox: SandboxServer) -> None:
    url = f"{sandbox.url}/banks/v1/"
    assert requests.get(url, timeout=5).status_code == 401
    expired = jwt.encode(
        {"exp": int(time.time()) - 10, "lean_scope": "api"},
        sandbox.state.signing_key,
        algorithm="HS256",
    )
    response = requests.get(url, headers={"Authorization": f"Bearer {expired}"}, timeout=5)
    assert response.status_code == 401 and "expired" in response.json()["message"]
    customer_id = next(iter(sandbox.state.data.customers))
    customer_token = token_request(sandbox, scope=f"customer.{customer_id}").json()["access_token"]
    assert (
        requests.get(
            url, headers={"Authorization": f"Bearer {customer_token}"}, timeout=5
        ).status_code
        == 403
    )


def test_error_bodies_use_leans_envelope(sandbox: SandboxServer) -> None:
    token = token_request(sandbox).json()["access_token"]
    response = requests.get(
        f"{sandbox.url}/data/v2/accounts",
        params={"entity_id": "e34d8e49"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    body = response.json()
    assert response.status_code == 400
    assert body["status"] == "INVALID_PARAMETERS" and "entity_id" in body["message"]
    assert body["results_id"] and body["timestamp"].endswith("Z")


def test_fault_settings_parse_from_text_and_json() -> None:
    config = FaultConfig.parse(
        "latency_ms=200, error_rate=0.5, error_code=BANK_DOWN, include_auth=true"
    )
    assert (config.latency_ms, config.error_rate, config.error_code, config.include_auth) == (
        200,
        0.5,
        "BANK_DOWN",
        True,
    )
    assert FaultConfig.parse('{"hang_seconds": 3}').hang_seconds == 3.0
    assert not FaultConfig.parse("").active
    with pytest.raises(ValueError, match="Unknown fault"):
        FaultConfig.parse("explode=1")
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultConfig.parse("error_rate=2")


def test_faults_switch_at_run_time_through_the_admin_endpoint(sandbox: SandboxServer) -> None:
    response = requests.put(
        f"{sandbox.url}/_sandbox/faults",
        json={"error_rate": 1, "error_code": "BANK_DOWN"},
        timeout=5,
    )
    assert response.status_code == 200
    token = token_request(sandbox).json()["access_token"]
    failed = requests.get(
        f"{sandbox.url}/banks/v1/", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert failed.status_code == 500 and failed.json()["status"] == "BANK_DOWN"
    assert (
        requests.put(f"{sandbox.url}/_sandbox/faults", json={"nonsense": 1}, timeout=5).status_code
        == 400
    )


def test_sandbox_runs_alone_with_python_m_sandbox() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1).json()
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise AssertionError("python -m sandbox did not start")
        assert health["customers"] >= 200 and health["entities"] >= 300
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "export LEAN_API_URL=" in output
