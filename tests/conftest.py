"""Shared fixtures: a real sandbox over loopback HTTP, and clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from lean_api import LeanClient, LeanSettings
from sandbox.app import SandboxConfig
from sandbox.faults import FaultConfig
from sandbox.seed import SeedCustomer
from sandbox.server import SandboxServer

# A fixed "today" for tests that reason about seeded dates.
ANCHOR = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """One sandbox for read-mostly tests (faults are reset after each test)."""
    with SandboxServer(SandboxConfig(anchor=ANCHOR, refresh_seconds=1.0)) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").faults.set(FaultConfig())


@pytest.fixture
def settings(sandbox: SandboxServer) -> LeanSettings:
    """Settings pointing at the shared sandbox."""
    return LeanSettings.from_env(sandbox.env(), dotenv_path=None)


@pytest.fixture
def client(settings: LeanSettings) -> Iterator[LeanClient]:
    """A client with short timeouts and near-instant backoff, so failure tests stay quick."""
    lean = LeanClient(
        settings, timeout=(2.0, 2.0), max_retries=2, backoff_base=0.01, backoff_max=0.05
    )
    yield lean
    lean.close()


@pytest.fixture
def sandbox_env(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The process environment points at the shared sandbox (for AppTest screens)."""
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    return sandbox


@pytest.fixture
def some_customer_with_entities(sandbox: SandboxServer) -> SeedCustomer:
    """A seeded customer with at least two entities, one of them with an ACTIVE consent."""
    data = sandbox.state.data
    for customer_id, entities in sorted(data.entities_by_customer.items()):
        statuses = {e.current_consent.status for e in entities}
        if len(entities) >= 2 and "ACTIVE" in statuses:
            return data.customers[customer_id]
    raise AssertionError("seed has no customer with two entities")
