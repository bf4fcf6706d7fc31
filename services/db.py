"""The engine and transactions; the one place that knows SQLite's locking rules.

On SQLite, a transaction that reads and then writes must start with `BEGIN IMMEDIATE`:
a deferred one that later tries to write gets "database is locked" at once, whatever the
busy timeout. pysqlite's own transaction handling cannot do that, so it is switched off
and SQLAlchemy's `begin` event emits the BEGIN itself (the recipe from SQLAlchemy's docs).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from services.config import get_settings
from services.sqlite_checkpoint import BACKSTOP_PAGES, WalCheckpointer

_engines: dict[str, Engine] = {}
_checkpointers: list[WalCheckpointer] = []

BUSY_TIMEOUT_MS = 10_000


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints are the checkpointer thread's job (services/sqlite_checkpoint.py).
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def build_engine(url: str) -> Engine:
    """Create an engine for `url`; SQLite gets WAL, a busy timeout and explicit BEGINs."""
    if make_url(url).get_backend_name() == "sqlite":
        database = _sqlite_file(url)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            pool_size=20,
            max_overflow=20,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine() -> Engine:
    """This process's engine for the configured database (SQLite's with its checkpointer)."""
    url = get_settings().resolved_database_url
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = build_engine(url)
        database = _sqlite_file(url)
        if database is not None:
            checkpointer = WalCheckpointer(database)
            checkpointer.start()
            _checkpointers.append(checkpointer)
    return engine


def dispose_engines() -> None:
    """Forget every engine; tests call it after changing the database URL."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    while _checkpointers:
        _checkpointers.pop().stop()


def is_sqlite(engine: Engine | None = None) -> bool:
    return (engine or get_engine()).dialect.name == "sqlite"


# SQLite has one writer at a time, and its busy handler waits by sleeping in growing steps:
# threads of one process queue here instead, in order, and only other processes meet the
# busy timeout.
_sqlite_writer = threading.Lock()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A read-write transaction, committed on success and rolled back on error.

    On SQLite it begins IMMEDIATE, so the writer lock is taken before the first read and
    read-then-write sequences cannot fail half-way.
    """
    engine = get_engine()
    guard = _sqlite_writer if is_sqlite(engine) else nullcontext()
    with guard, Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_scope() -> Iterator[Session]:
    """A read-only transaction: on SQLite a deferred BEGIN that never blocks writers."""
    engine = get_engine()
    if is_sqlite(engine):
        engine = engine.execution_options(sqlite_begin="DEFERRED")
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        finally:
            # Detach what was read so it stays usable after the transaction ends.
            session.expunge_all()
            session.rollback()
