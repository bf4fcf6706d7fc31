"""SQLite's write-ahead log is checkpointed by a thread of its own, never by a commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from services.db import build_engine, dispose_engines, get_engine
from services.sqlite_checkpoint import BACKSTOP_PAGES, WalCheckpointer
from tests.databases import on_postgres

BLOB = 8192  # two pages a row


def _write_rows(engine, count: int) -> None:  # noqa: ANN001
    for _ in range(count):
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO blobs (data) VALUES (randomblob(:n))"), {"n": BLOB}
            )


def _checkpointer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sqlite-checkpoint")]


def test_commits_leave_checkpoints_to_the_checkpointer_which_keeps_the_log_bounded(
    tmp_path: Path,
) -> None:
    database = tmp_path / "app.db"
    engine = build_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == (
                BACKSTOP_PAGES
            )
            connection.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)"))
        # 600 commits of two pages each: past SQLite's default threshold (1000 pages), no
        # commit checkpointed — the rows are all still in the log, not the database file.
        _write_rows(engine, 600)
        wal = Path(f"{database}-wal")
        assert wal.stat().st_size > 1200 * 4096
        assert database.stat().st_size < 100 * 4096

        checkpointer = WalCheckpointer(database)
        with sqlite3.connect(database) as connection:
            busy, logged, done = checkpointer.checkpoint(connection)
        assert (busy, done) == (0, logged)
        assert database.stat().st_size > 1200 * 4096

        # Checkpointed, the log is written again from its start: it does not grow.
        size = wal.stat().st_size
        _write_rows(engine, 300)
        assert wal.stat().st_size <= size
    finally:
        engine.dispose()


def test_the_checkpointer_thread_checkpoints_on_its_own(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    engine = build_engine(f"sqlite:///{database}")
    checkpointer = WalCheckpointer(database, every_s=0.01)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)"))
        _write_rows(engine, 100)
        assert database.stat().st_size < 100 * 4096
        checkpointer.start()
        deadline = time.monotonic() + 10
        while database.stat().st_size < 200 * 4096 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert database.stat().st_size >= 200 * 4096  # the rows reached the database file
    finally:
        checkpointer.stop()
        engine.dispose()


@pytest.mark.skipif(on_postgres(), reason="SQLite's own")
def test_the_app_engine_runs_a_checkpointer_until_the_engines_are_disposed(database: str) -> None:
    dispose_engines()
    assert not _checkpointer_threads()
    get_engine()
    assert len(_checkpointer_threads()) == 1
    dispose_engines()
    assert not _checkpointer_threads()
