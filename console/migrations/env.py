"""Alembic's environment for the console's store (configured in code: console/migrations).

The runner (`console.migrations.upgrade`) hands over a connection that already holds the
migration lock inside its transaction; every revision then runs in that one transaction (on
PostgreSQL the whole upgrade commits or none of it does). Run any other way (Alembic's own
command line with `-x url=…` or `sqlalchemy.url`), this file takes the same lock itself.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from console.migrations import locked, prepare


def run(connection: Connection) -> None:
    """The revisions, on a connection whose transaction the caller owns."""
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        prepare(connection, context.get_context())
        context.run_migrations()


given = context.config.attributes.get("connection")
if context.is_offline_mode():
    raise SystemExit(
        "the schema steps look at the database first; offline (--sql) mode cannot run them"
    )
if given is not None:
    run(given)
else:
    from console.store import EventStore

    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or context.config.get_main_option("sqlalchemy.url")
        or os.environ.get("DATABASE_URL")
    )
    store = EventStore(url or None)
    try:
        with locked(store.engine) as conn:
            run(conn)
    finally:
        store.dispose()
