"""The ingest bench's PostgreSQL cluster is a running server's: its settings reach the server
and the WAL files it makes are kept for reuse (tests/bench/ingest_wrk.py)."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from tests.bench.ingest_wrk import WAL_SETTINGS, recycle_wal
from tests.pgcluster import postgres_cluster


def test_the_bench_cluster_keeps_the_wal_files_it_made_for_reuse() -> None:
    with postgres_cluster(settings=WAL_SETTINGS) as url:
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SHOW min_wal_size")).scalar_one() == "1GB"
            assert conn.execute(text("SHOW max_wal_size")).scalar_one() == "4GB"
            current = conn.execute(
                text("SELECT pg_walfile_name(pg_current_wal_lsn())")
            ).scalar_one()
        files = recycle_wal(url, segments=6)
        with engine.connect() as conn:
            now = conn.execute(text("SELECT pg_walfile_name(pg_current_wal_lsn())")).scalar_one()
            names = conn.execute(text("SELECT name FROM pg_ls_waldir()")).scalars().all()
        engine.dispose()
    # Six switches moved the WAL six files on; the checkpoint renamed the files behind it for
    # reuse (names after the current one) instead of deleting them.
    assert int(now[-8:], 16) - int(current[-8:], 16) >= 6
    ahead = [n for n in names if len(n) == 24 and n > now]
    assert len(ahead) >= 6 and files == len(names)
