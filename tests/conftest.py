"""Shared fixtures: a real sandbox over loopback HTTP, and clients pointed at it."""

from __future__ import annotations

import os
import shutil
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
from tests.pgcluster import PostgresMissing, postgres_cluster
from tests.receivers import SECRET, Receiver

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

    from console.store import EventStore

# A fixed "today" for tests that reason about seeded dates.
ANCHOR = datetime(2026, 11, 28, tzinfo=UTC)


def pytest_configure(config: pytest.Config) -> None:
    """Screens under test that name no store of their own write to a file of this run (of this
    worker, under `make test`'s xdist), never the developer's `data/console.db` nor a database
    `DATABASE_URL` names in their shell."""
    scratch = tempfile.mkdtemp(prefix="lean-console-tests-")
    config.add_cleanup(lambda: shutil.rmtree(scratch, ignore_errors=True))
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch}/console.db"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run one at a time, on one xdist worker (`make test` runs two): each drives
    Chromium against a console server, and two of them at once on two cores starve each other."""
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("browser"))


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
    point_console_at_sandbox(sandbox, monkeypatch)
    return sandbox


def point_console_at_sandbox(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The console in this process talks to `sandbox`, and its screens run as an admin.

    Credentials are set, so the console wants a sign-in: screens under test run as an admin
    behind a sign-in proxy that names nobody (tests/test_access_screens.py covers the gate)."""
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CONSOLE_BEHIND_SIGN_IN", "true")
    monkeypatch.setenv("CONSOLE_DEFAULT_ROLE", "admin")


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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL cluster of its own on a free loopback port, removed afterwards."""
    try:
        with postgres_cluster() as url:
            yield url
    except PostgresMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty event store on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    from console.store import INDEX_TABLES, REFRESH_INDEX_TABLES, EventStore

    store = EventStore(url)
    store.migrate()
    # Every table a test writes but the append-only audit log: the book and refresh indexes too,
    # or one test's bank names and customers would show up in the next one's answers.
    book = ", ".join(t.name for t in (*INDEX_TABLES, *REFRESH_INDEX_TABLES))
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE webhook_events, webhook_rejections, webhook_rejection_counts, "
                f"webhook_dead_letters, lean_calls, {book} RESTART IDENTITY"
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


@pytest.fixture
def receiver(store: EventStore) -> Iterator[Receiver]:
    """A receiver verifying with `SECRET`, served over loopback, in front of each store."""
    from console.webhooks import ReceiverConfig

    served = Receiver(store, ReceiverConfig(secret=SECRET))
    yield served
    served.server.stop()


# -- AppTest screens ----------------------------------------------------------------------------

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def db(tmp_path: Path, sandbox_env: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> EventStore:
    """A fresh SQLite store the console under test uses (`DATABASE_URL`), beside the sandbox."""
    from console.store import EventStore

    url = f"sqlite:///{tmp_path / 'screen.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    event_store = EventStore(url)
    event_store.migrate()
    return event_store


@pytest.fixture
def screen(request: pytest.FixtureRequest, db: EventStore) -> Iterator[AppTest]:
    """The console (app.py, as an admin) on the page the test module names in `SCREEN`
    (e.g. `SCREEN = "pages/triage.py"`), with empty caches and a fresh store."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from console.last_good import last_good

    page = getattr(request.module, "SCREEN", None)
    if page is None:
        raise pytest.UsageError(f"{request.module.__name__} uses `screen` but sets no SCREEN")
    st.cache_data.clear()
    last_good().clear()
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(page)
    yield at
    last_good().clear()
