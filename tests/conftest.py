"""Shared fixtures: a real sandbox over loopback HTTP, and clients pointed at it."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from lean_api import LeanClient, LeanSettings
from sandbox.app import SandboxConfig
from sandbox.faults import FaultConfig
from sandbox.seed import SeedCustomer
from sandbox.server import SandboxServer

if TYPE_CHECKING:
    from console.store import EventStore

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


# ---------------------------------------------------------------------------------------------
# Event stores: SQLite and a throwaway PostgreSQL cluster started by the tests themselves
# ---------------------------------------------------------------------------------------------


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres_user(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; CI runs as root, developers usually do not.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL cluster of its own on a free loopback port, removed afterwards."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.fail(
            "PostgreSQL is not installed: `make test` installs it as root, or run `sudo apt-get install postgresql`."
        )
    base = Path(tempfile.mkdtemp(prefix="lean-console-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(
        _as_postgres_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    )
    subprocess.run(
        _as_postgres_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(base / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres_user(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty event store on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    from console.store import EventStore

    store = EventStore(url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE webhook_events, webhook_rejections, webhook_dead_letters RESTART IDENTITY"
            )
        )
        conn.execute(text("DELETE FROM console_meta WHERE key <> 'schema_version'"))
    store.dispose()
    yield url


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    """An empty, migrated event store (SQLite and PostgreSQL)."""
    from console.store import EventStore

    event_store = EventStore(store_url, busy_timeout_ms=300, lock_timeout_ms=300)
    event_store.migrate()
    yield event_store
    event_store.dispose()
