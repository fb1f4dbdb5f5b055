"""Bring the database to the newest schema before starting several processes against it.

    DATABASE_URL=postgresql://… .venv/bin/python -m console.migrate

Every process also migrates at start (`EventStore.migrate`), under the same lock, so this is
not required; it makes a deployment's schema change a step of its own, run once, whose failure
stops the roll-out before any receiver or console starts. `--check` changes nothing and exits
1 when the database is behind (2 when there is none, or it cannot be reached).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from console.migrations import head_version, revision_id, schema_state
from console.store import DEFAULT_DATABASE_URL, EventStore, StoreRejected, StoreUnavailable


def _missing_sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names when it does not exist yet (None: it exists, or not SQLite)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # EventStore says what is wrong with it
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        return None
    path = Path(database)
    return None if path.exists() else path


def describe(store: EventStore) -> tuple[int, int]:
    """(schema_version, Alembic revision) of the store's database, read without changing it."""
    with store.engine.connect() as conn:
        return schema_state(conn)


def main(argv: list[str] | None = None) -> int:
    """Migrate (or with `--check`, only inspect) `DATABASE_URL`; the exit code says how it went."""
    parser = argparse.ArgumentParser(
        prog="python -m console.migrate",
        description="Bring DATABASE_URL's schema to this release's (safe to run alongside others).",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if the database is behind this release's schema",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    url = os.environ.get("DATABASE_URL") or None
    if url is None:
        print(f"DATABASE_URL is not set: the default, {DEFAULT_DATABASE_URL}", file=sys.stderr)
    missing = _missing_sqlite_file(url or DEFAULT_DATABASE_URL)
    if missing is not None:
        if args.check:
            # Checking changes nothing: not even the file and folders a store would create.
            print(f"no database at {missing}: nothing to check", file=sys.stderr)
            return 2
        print(f"no database at {missing}: creating a new one", file=sys.stderr)
    try:
        store = EventStore(url)
    except StoreUnavailable as exc:
        print(f"cannot migrate: {exc}", file=sys.stderr)
        return 2
    head = head_version()
    try:
        recorded, stamped = describe(store)
        print(
            f"{store!r}: schema {recorded} (Alembic: {revision_id(stamped) if stamped else 'none'}); this release: {head}"
        )
        if args.check:
            return 0 if recorded == stamped >= head else 1
        store.migrate()
        recorded, stamped = describe(store)
        print(f"migrated: schema {recorded} (Alembic: {revision_id(stamped)})")
        return 0
    except (StoreUnavailable, StoreRejected, SQLAlchemyError) as exc:
        print(f"cannot migrate: {str(exc).splitlines()[0][:300]}", file=sys.stderr)
        return 2
    finally:
        store.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
