"""Schema migrations through Alembic, safe to run from several processes at once.

Each step of `console.store.MIGRATIONS` is one Alembic revision (`versions/000N_*.py`, revision
id `000N`), so `alembic upgrade head` gives exactly the schema the store's step functions make.
Alembic is configured here, in code (`alembic_config`); there is no alembic.ini.

Every upgrade holds one lock for its whole length, so of several processes starting at once one
migrates and the others wait, then find the work done:
- PostgreSQL: `pg_advisory_xact_lock(7320151)` (the key the store's earlier runner took, so an
  older release starting at the same moment waits too), in the transaction that migrates;
- SQLite: `BEGIN IMMEDIATE`, the database's own write lock, held by the transaction that
  migrates (other writers wait; readers go on reading the schema as it was).

The console's meta table keeps `schema_version` (the number every release, before Alembic too,
reads and writes). A database made by the earlier runner has no `alembic_version` table: it is
stamped at the revision of its `schema_version` and upgraded from there, no step run twice.
Where the two disagree, `schema_version` wins, because an older release moves only that one.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)
# Alembic announces its plugins at INFO on every run; its "Running upgrade" lines stay.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

HERE = Path(__file__).resolve().parent
ADVISORY_LOCK_KEY = 7320151
# How long a process waits for SQLite's write lock while another one migrates (a step may go
# over every stored row); each try waits the connection's busy timeout.
SQLITE_LOCK_WAIT_SECONDS = 300.0


def revision_id(version: int) -> str:
    """The Alembic revision of the store's schema step `version` (1 → "0001")."""
    return f"{version:04d}"


def version_of(revision: str | None) -> int:
    """The store's schema number of an Alembic revision id (None → 0)."""
    return int(revision) if revision else 0


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for this package, built in code; `connection` is migrated."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # Revision files are named 000N_what.py; the template serves `alembic revision`.
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def script_directory() -> ScriptDirectory:
    """The revisions, read once per process (they do not change while it runs)."""
    return ScriptDirectory.from_config(alembic_config())


def head_version() -> int:
    """The newest schema the revisions know."""
    return version_of(script_directory().get_current_head())


def apply_step(connection: Connection, version: int) -> None:
    """Run the store's step `version` and record it as the schema (called by each revision)."""
    from console.store import MIGRATIONS, _set_meta

    step = dict(MIGRATIONS)[version]
    log.info("migrating the event store to schema %d (%s)", version, step.__name__)
    step(connection)
    _set_meta(connection, "schema_version", str(version))


def schema_state(connection: Connection) -> tuple[int, int]:
    """(`schema_version` in the meta table, Alembic's revision as a number); 0 when absent."""
    from console.store import meta

    tables = set(inspect(connection).get_table_names())
    recorded = 0
    if meta.name in tables:
        value = connection.execute(
            select(meta.c.value).where(meta.c.key == "schema_version")
        ).scalar()
        recorded = int(value or 0)
    stamped = 0
    if "alembic_version" in tables:
        revision = connection.exec_driver_sql("SELECT max(version_num) FROM alembic_version")
        stamped = version_of(revision.scalar())
    return recorded, stamped


def upgrade(engine: Engine) -> int:
    """Bring the database to the newest schema, under the lock; returns the schema it is at.

    Checks first without the lock, so a process starting against an up-to-date database never
    waits for a writer.
    """
    from console.store import MIGRATIONS

    head = head_version()
    if head != MIGRATIONS[-1][0]:
        # A step added to the store without its revision would silently never run.
        raise RuntimeError(
            f"console/store.py's schema step {MIGRATIONS[-1][0]} has no Alembic revision in "
            f"console/migrations/versions (newest: {revision_id(head)})"
        )
    with engine.connect() as conn:
        recorded, stamped = schema_state(conn)
    if recorded == stamped >= head:
        return recorded
    with locked(engine) as conn:
        recorded, _ = schema_state(conn)
        if recorded > head:
            # Written by a newer release: left as it is, as the earlier runner did.
            log.warning(
                "the database is at schema %d, newer than this release's %d; not migrating",
                recorded,
                head,
            )
            return recorded
        command.upgrade(alembic_config(conn), "head")
        return schema_state(conn)[0]


def prepare(connection: Connection, context: MigrationContext) -> None:
    """Before any revision runs (env.py): the meta table exists, and a database made by the
    earlier runner, or moved by an older release, is stamped at its `schema_version`."""
    from console.store import meta, metadata

    metadata.create_all(connection, tables=[meta], checkfirst=True)
    recorded, stamped = schema_state(connection)
    if recorded == stamped or recorded > head_version():
        return
    if recorded == 0:
        # The meta row went missing: Alembic's own record stands, and is written back.
        from console.store import _set_meta

        _set_meta(connection, "schema_version", str(stamped))
        return
    log.info("adopting a database at schema %d (was %d in Alembic)", recorded, stamped)
    if stamped:
        connection.exec_driver_sql("DELETE FROM alembic_version")
    context.stamp(script_directory(), revision_id(recorded))


@contextmanager
def locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction holding the migration lock; committed on success."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")
        elif conn.dialect.name == "sqlite":
            _begin_immediate(conn)
        yield conn
        conn.commit()


def _begin_immediate(conn: Connection) -> None:
    """Take SQLite's write lock, waiting out another process's migration."""
    deadline = time.monotonic() + SQLITE_LOCK_WAIT_SECONDS
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            conn.rollback()
            if time.monotonic() > deadline:
                raise
            log.info("waiting for another process to finish migrating the database")
