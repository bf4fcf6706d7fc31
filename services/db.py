"""The engine and transactions; the one place that knows SQLite's locking rules.

On SQLite, a transaction that reads and then writes must start with `BEGIN IMMEDIATE`:
a deferred one that later tries to write gets "database is locked" at once, whatever the
busy timeout. pysqlite's own transaction handling cannot do that, so it is switched off
and SQLAlchemy's `begin` event emits the BEGIN itself (the recipe from SQLAlchemy's docs).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from services.config import get_settings
from services.errors import DatabaseBusy
from services.sqlite_checkpoint import BACKSTOP_PAGES, WalCheckpointer

_engines: dict[str, Engine] = {}
_checkpointers: list[WalCheckpointer] = []


def _write_wait_s() -> float:
    return max(0.1, get_settings().db_write_wait_s)


def _configure_sqlite(engine: Engine) -> None:
    busy_timeout_ms = int(_write_wait_s() * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints are the checkpointer thread's job (services/sqlite_checkpoint.py).
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        left_ms = _write_budget_ms.get()
        if mode != "IMMEDIATE" or left_ms is None:
            left_ms = busy_timeout_ms
        # A write waits what is left of its one deadline after waiting for this process's
        # writer lock: the two waits together stay within DB_WRITE_WAIT_S.
        connection.exec_driver_sql(f"PRAGMA busy_timeout={max(1, left_ms)}")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _keep_private(database: Path) -> None:
    """The database holds every decision and the hashes of every key: its folder is the
    owner's alone (0700 when this creates it) and the file is 0600 (SQLite gives its -wal and
    -shm files the database file's permissions)."""
    if not database.parent.exists():
        database.parent.mkdir(parents=True, mode=0o700)
    if not database.exists():
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    elif database.stat().st_mode & 0o077:
        database.chmod(0o600)
    for companion in (Path(f"{database}-wal"), Path(f"{database}-shm")):
        if companion.exists() and companion.stat().st_mode & 0o077:
            companion.chmod(0o600)


def build_engine(url: str) -> Engine:
    """Create an engine for `url`; SQLite gets WAL, a busy timeout and explicit BEGINs."""
    if make_url(url).get_backend_name() == "sqlite":
        database = _sqlite_file(url)
        if database is not None:
            _keep_private(database)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": _write_wait_s()},
            pool_size=20,
            max_overflow=20,
        )
        _configure_sqlite(engine)
        return engine
    # A row lock (FOR UPDATE) waited on past the limit fails instead of hanging the request.
    lock_timeout_ms = int(_write_wait_s() * 1000)
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"options": f"-c lock_timeout={lock_timeout_ms}"},
    )


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
_write_budget_ms: ContextVar[int | None] = ContextVar("_write_budget_ms", default=None)


def _busy(what: str) -> DatabaseBusy:
    wait = _write_wait_s()
    return DatabaseBusy(
        f"the database is busy ({what} for {wait:g} s); nothing was written, try again",
        retry_after_s=max(1, round(wait)),
    )


def _is_lock_wait(error: OperationalError) -> bool:
    """SQLite's "database is locked", or PostgreSQL's lock_timeout (SQLSTATE 55P03)."""
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code == "55P03" or "database is locked" in str(error.orig)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A read-write transaction, committed on success and rolled back on error.

    On SQLite it begins IMMEDIATE, so the writer lock is taken before the first read and
    read-then-write sequences cannot fail half-way. A write waits for the database at most
    DB_WRITE_WAIT_S (this process's other writers, another process, a locked row), then
    raises DatabaseBusy with nothing written: a request answers 503, never hangs.
    """
    engine = get_engine()
    sqlite = is_sqlite(engine)
    deadline = time.monotonic() + _write_wait_s()
    if sqlite and not _sqlite_writer.acquire(timeout=_write_wait_s()):
        raise _busy("another write in this process held it")
    budget = _write_budget_ms.set(int((deadline - time.monotonic()) * 1000)) if sqlite else None
    try:
        with Session(engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except OperationalError as error:
                session.rollback()
                if _is_lock_wait(error):
                    raise _busy("another writer held it") from error
                raise
            except BaseException:
                session.rollback()
                raise
    finally:
        if sqlite:
            if budget is not None:
                _write_budget_ms.reset(budget)
            _sqlite_writer.release()


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


def at_savepoint(session: Session) -> bool:
    """Whether a commit or rollback hook is firing for a savepoint rather than the
    transaction: SQLAlchemy fires `before_commit`/`after_commit` when a savepoint is released
    and `after_rollback` when one rolls back. Work due at the real commit (writing audit
    events, announcing, clearing caches) waits for it, and a savepoint's rollback must not
    forget what the rest of the transaction did."""
    return session.get_nested_transaction() is not None
