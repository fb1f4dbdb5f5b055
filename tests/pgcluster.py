"""A throwaway PostgreSQL cluster on a free loopback port (tests and benchmarks)."""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.ports import free_port


class PostgresMissing(RuntimeError):
    """PostgreSQL's server binaries are not installed."""


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL `bin` directory, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres_user(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; CI runs as root, developers usually do not.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run_or_remove(base: Path, what: str, command: list[str]) -> None:
    """Run a step of a cluster's set-up; when it fails, delete the cluster's directory and say
    why (the command's own words and the server's log)."""
    done = subprocess.run(_as_postgres_user(command), capture_output=True, text=True)
    if done.returncode != 0:
        log = (base / "log").read_text() if (base / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"{what} failed: {done.stderr.strip()} {log.strip()}")


@contextmanager
def postgres_cluster(fsync: bool = False, settings: dict[str, str] | None = None) -> Iterator[str]:
    """Start a cluster (with server `settings`, if any), yield its SQLAlchemy URL, stop and
    delete it afterwards."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise PostgresMissing(
            "PostgreSQL is not installed: `make test` installs it as root, or run `sudo apt-get install postgresql`."
        )
    base = Path(tempfile.mkdtemp(prefix="lean-console-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    port = free_port()
    _run_or_remove(
        base,
        "initdb",
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
        ],
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=50 -c fsync={'on' if fsync else 'off'}"
    # pg_ctl hands the options to a shell: a value with a space is quoted.
    options += "".join(
        f" -c {name}={shlex.quote(value)}" for name, value in (settings or {}).items()
    )
    _run_or_remove(
        base,
        "PostgreSQL's start",
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
        ],
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


def fresh_postgres_database(server_url: str, name: str) -> str:
    """An empty PostgreSQL database `name` on the test cluster (dropped first if it exists)."""
    from sqlalchemy import create_engine

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
