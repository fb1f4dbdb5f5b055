"""Alembic migrations: today's schema from a fresh database, databases of the earlier runner
adopted without running a step twice, and several processes migrating one database at once."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection

from console.migrate import main as migrate_command
from console.migrations import (
    alembic_config,
    head_version,
    revision_id,
    schema_state,
    script_directory,
)
from console.store import MIGRATIONS, EventRecord, EventStore, _set_meta, meta, metadata
from tests.pgcluster import fresh_postgres_database

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------
# Databases on both backends
# ---------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """Makes an empty database of the given name on the backend under test."""
    if request.param == "sqlite":
        return lambda name: f"sqlite:///{tmp_path / name}.db"
    server = request.getfixturevalue("postgres_url")
    return lambda name: fresh_postgres_database(server, name)


def old_runner(url: str, up_to: int) -> None:
    """The store's runner before Alembic, as it was: meta table, then each step above the
    recorded `schema_version`, in one transaction (advisory lock on PostgreSQL)."""
    engine = EventStore(url).engine
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7320151)"))
        metadata.create_all(conn, tables=[meta], checkfirst=True)
        current = int(
            conn.execute(
                text("SELECT value FROM console_meta WHERE key = 'schema_version'")
            ).scalar()
            or 0
        )
        for version, step in MIGRATIONS:
            if current < version <= up_to:
                step(conn)
                _set_meta(conn, "schema_version", str(version))
    engine.dispose()


def schema_of(url: str) -> dict[str, Any]:
    """Everything the schema is made of: tables, columns, indexes, constraints, triggers and
    functions (Alembic's own version table left out)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return _describe(conn)
    finally:
        engine.dispose()


def _describe(conn: Connection) -> dict[str, Any]:
    """From the database's own catalog, so expression indexes and triggers count too."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE name <> 'alembic_version' AND tbl_name <> 'alembic_version' ORDER BY name"
        ).all()
        return {"sqlite_master": [tuple(row) for row in rows]}
    queries = {
        "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default, "
        "character_maximum_length FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name <> 'alembic_version' ORDER BY table_name, column_name",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY indexname",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
        "AND conrelid::regclass::text <> 'alembic_version' ORDER BY conname",
        "triggers": "SELECT trigger_name, event_object_table, action_timing, "
        "event_manipulation, action_statement FROM information_schema.triggers "
        "ORDER BY trigger_name, event_manipulation",
        "functions": "SELECT proname, prosrc FROM pg_proc "
        "WHERE pronamespace = 'public'::regnamespace ORDER BY proname, prosrc",
        "extensions": "SELECT extname FROM pg_extension ORDER BY extname",
    }
    return {
        name: [tuple(row) for row in conn.exec_driver_sql(sql)] for name, sql in queries.items()
    }


def table_names(schema: dict[str, Any]) -> set[str]:
    """The tables a described schema holds."""
    if "sqlite_master" in schema:
        return {name for kind, name, _, _ in schema["sqlite_master"] if kind == "table"}
    return {row[0] for row in schema["columns"]}


def trigger_names(schema: dict[str, Any]) -> set[str]:
    """The triggers a described schema holds."""
    if "sqlite_master" in schema:
        return {name for kind, name, _, _ in schema["sqlite_master"] if kind == "trigger"}
    return {row[0] for row in schema["triggers"]}


def ran_steps(records: list[logging.LogRecord]) -> list[int]:
    """The store's schema steps a migration ran, from its log."""
    return [
        int(r.getMessage().split("schema ")[1].split(" ")[0])
        for r in records
        if r.name == "console.migrations" and "migrating the event store" in r.getMessage()
    ]


# ---------------------------------------------------------------------------------------------
# Revisions and steps
# ---------------------------------------------------------------------------------------------


def test_every_schema_step_has_its_alembic_revision_in_order() -> None:
    """Fails as soon as a `MIGRATIONS` step (say `_schema_8`) is added without its revision."""
    script = script_directory()
    chain = [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]
    assert chain == [revision_id(version) for version, _ in MIGRATIONS]
    assert script.get_heads() == [revision_id(MIGRATIONS[-1][0])]
    assert head_version() == MIGRATIONS[-1][0]
    for revision in script.walk_revisions("base", "heads"):
        source = Path(revision.path).read_text()
        assert f"apply_step(op.get_bind(), {int(revision.revision)})" in source, revision.path


def test_a_step_without_its_revision_stops_the_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    latest = MIGRATIONS[-1][0]
    monkeypatch.setattr("console.store.MIGRATIONS", [*MIGRATIONS, (latest + 1, lambda _: None)])
    store = EventStore(f"sqlite:///{tmp_path / 'unrevised.db'}")
    with pytest.raises(RuntimeError, match=f"step {latest + 1} has no Alembic revision"):
        store.migrate()
    store.dispose()


def test_fresh_database_gets_exactly_the_schema_the_earlier_runner_made(
    fresh_url: Callable[[str], str],
) -> None:
    by_runner, by_alembic = fresh_url("by_runner"), fresh_url("by_alembic")
    old_runner(by_runner, up_to=MIGRATIONS[-1][0])
    # Alembic's own `upgrade head`, as its command line runs it (env.py takes the lock itself).
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", by_alembic)
    command.upgrade(config, "head")
    expected, made = schema_of(by_runner), schema_of(by_alembic)
    assert made == expected
    assert {"webhook_events", "audit_log", "webhook_rejection_counts"} <= table_names(made)
    assert {"audit_log_no_delete", "audit_log_no_update"} <= trigger_names(made)
    store = EventStore(by_alembic)
    assert store.get_meta("schema_version") == str(MIGRATIONS[-1][0])
    with store.engine.connect() as conn:
        assert schema_state(conn) == (MIGRATIONS[-1][0], MIGRATIONS[-1][0])
    store.dispose()


def test_the_store_migrates_a_fresh_database_through_alembic(
    fresh_url: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    url = fresh_url("through_store")
    caplog.set_level(logging.INFO, logger="console.migrations")
    store = EventStore(url)
    store.migrate()
    store.migrate()  # idempotent
    again = EventStore(url)
    again.migrate()  # a second process finds the work done
    assert ran_steps(caplog.records) == [v for v, _ in MIGRATIONS]
    with again.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [
            revision_id(MIGRATIONS[-1][0])
        ]
    store.dispose()
    again.dispose()


@pytest.mark.parametrize("old_version", [5, 7])
def test_a_database_of_the_earlier_runner_is_adopted_without_running_a_step_twice(
    fresh_url: Callable[[str], str], caplog: pytest.LogCaptureFixture, old_version: int
) -> None:
    url, reference = fresh_url(f"old_v{old_version}"), fresh_url(f"reference_v{old_version}")
    old_runner(url, up_to=old_version)
    old = EventStore(url)
    old._migrated = True  # as the earlier release ran it: its runner made the schema
    # What a second run of an earlier step would change: schema 4 steps the book indexer's
    # cursor back to the first refresh event; schema 7 would count refusals a second time.
    old.write_events([refresh_record("r-1"), refresh_record("r-2")])
    with old.engine.begin() as conn:
        _set_meta(conn, "book_indexer_cursor", "2")
    if old_version >= 7:
        old.record_rejections([rejection(s) for s in range(3)])
    with old.engine.connect() as conn:
        assert "alembic_version" not in inspect(conn).get_table_names()
    old.dispose()

    caplog.set_level(logging.INFO, logger="console.migrations")
    adopted = EventStore(url)
    adopted.migrate()
    latest = MIGRATIONS[-1][0]
    assert ran_steps(caplog.records) == [v for v, _ in MIGRATIONS if v > old_version]
    assert adopted.get_meta("schema_version") == str(latest)
    assert adopted.get_meta("book_indexer_cursor") == "2"
    if old_version >= 7:
        assert adopted.count_rejections() == 3
    with adopted.engine.connect() as conn:
        assert schema_state(conn) == (latest, latest)
    assert adopted.count_events() == 2
    adopted.dispose()
    old_runner(reference, up_to=latest)
    assert schema_of(url) == schema_of(reference)


def test_an_older_release_moving_schema_version_back_is_followed(
    fresh_url: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    """`schema_version` is the record every release keeps; Alembic's stamp follows it."""
    url = fresh_url("moved_back")
    store = EventStore(url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE webhook_rejection_counts")
        _set_meta(conn, "schema_version", "6")
    store.dispose()
    caplog.set_level(logging.INFO, logger="console.migrations")
    again = EventStore(url)
    again.migrate()
    assert ran_steps(caplog.records) == [v for v, _ in MIGRATIONS if v > 6]
    assert again.count_rejections() == 0
    again.dispose()


def test_a_database_of_a_newer_release_is_left_alone(fresh_url: Callable[[str], str]) -> None:
    url = fresh_url("newer")
    store = EventStore(url)
    store.migrate()
    with store.engine.begin() as conn:
        _set_meta(conn, "schema_version", "999")
    store.dispose()
    again = EventStore(url)
    again.migrate()
    assert again.get_meta("schema_version") == "999"
    again.write_events([refresh_record("still-works")])
    again.dispose()


def test_a_failing_step_leaves_the_database_as_it_was(
    fresh_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole upgrade is one transaction: a step that fails takes the earlier ones back."""
    url = fresh_url("failing")
    old_runner(url, up_to=5)

    def broken(_conn: Connection) -> None:
        raise RuntimeError("step 7 broke")

    steps = [(v, broken if v == 7 else step) for v, step in MIGRATIONS]
    monkeypatch.setattr("console.store.MIGRATIONS", steps)
    store = EventStore(url)
    with pytest.raises(RuntimeError, match="step 7 broke"):
        store.migrate()
    store.dispose()
    monkeypatch.undo()
    with create_engine(url).connect() as conn:
        assert schema_state(conn) == (5, 0)
        assert "lean_calls" not in inspect(conn).get_table_names()  # step 6 taken back too


# ---------------------------------------------------------------------------------------------
# Several processes at once
# ---------------------------------------------------------------------------------------------

# Each process imports everything first, then waits for the same starting signal, so their
# migrations overlap instead of following each other.
MIGRATE_ON_SIGNAL = """
import os, sys, time
from console.migrate import main
ready, go = sys.argv[1:]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
sys.exit(main([]))
"""


def migrate_at_once(
    url: str, processes: int, tmp_path: Path
) -> list[subprocess.CompletedProcess[str]]:
    """`python -m console.migrate` in `processes` processes, released at the same instant."""
    go = tmp_path / "go"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    ready = [tmp_path / f"ready-{n}" for n in range(processes)]
    started = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_ON_SIGNAL, str(flag), str(go)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.02)
    go.touch()
    results = []
    for process in started:
        out, _ = process.communicate(timeout=90)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, ""))
    return results


def test_four_processes_migrating_one_fresh_database_at_once(
    fresh_url: Callable[[str], str], tmp_path: Path
) -> None:
    url = fresh_url("at_once")
    results = migrate_at_once(url, 4, tmp_path)
    for result in results:
        assert result.returncode == 0, result.stdout
    # Exactly one process ran the steps; the others found them done.
    runs = [r.stdout.count("migrating the event store to schema 1 ") for r in results]
    assert sorted(runs) == [0, 0, 0, 1], [r.stdout for r in results]
    latest = MIGRATIONS[-1][0]
    with create_engine(url).connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [
            revision_id(latest)
        ]
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM console_meta WHERE key = 'schema_version'"
            ).scalar()
            == 1
        )
    reference = fresh_url("at_once_reference")
    old_runner(reference, up_to=latest)
    assert schema_of(url) == schema_of(reference)


def test_migrate_command_checks_and_migrates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'command.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert migrate_command(["--check"]) == 2  # no database there: checking creates none
    assert not (tmp_path / "new").exists()
    assert "no database at" in capsys.readouterr().err
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "command.db").touch()
    assert migrate_command(["--check"]) == 1  # a database, behind this release
    done = subprocess.run(
        [sys.executable, "-m", "console.migrate"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"migrated: schema {MIGRATIONS[-1][0]}" in done.stdout
    assert migrate_command(["--check"]) == 0
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:9/none")
    assert migrate_command([]) == 2
    said = capsys.readouterr()
    assert "cannot migrate" in said.err and "secret" not in said.out + said.err
    monkeypatch.setenv("DATABASE_URL", "not a url")
    assert migrate_command([]) == 2


# ---------------------------------------------------------------------------------------------


def refresh_record(event_id: str) -> EventRecord:
    at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    return EventRecord(
        event_id=event_id,
        type="entity.data.refresh.updated",
        message="m",
        lean_timestamp=at,
        received_at=at,
        verified=True,
        source_ip=None,
        customer_id="c1",
        entity_id="e1",
        refresh_id=f"refresh-{event_id}",
        status="FINISHED",
        size=2,
        payload="{}",
    )


def rejection(second: int) -> dict[str, Any]:
    return {
        "received_at": datetime(2026, 11, 1, 9, 30, second, tzinfo=UTC),
        "source_ip": None,
        "status_code": 401,
        "reason": "missing signature header",
        "size": 1,
    }
