"""Alembic environment: the URL comes from settings, the metadata from the models."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table)
from alembic import context
from services.db import get_engine

target_metadata = SQLModel.metadata
MIGRATION_LOCK = 7_312_001  # any constant shared by every process of this app


def run_migrations_offline() -> None:
    context.configure(
        url=str(get_engine().url),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = context.config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    with get_engine().connect() as connection:
        _run(connection)


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # One transaction for the whole upgrade, on SQLite too (its DDL is transactional;
        # Alembic assumes not and commits each migration apart): a process starting while
        # another migrates then waits for all of it, instead of slipping in between two
        # migrations and running the next one a second time.
        transactional_ddl=True,
    )
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration copies a table, drops it and renames the copy: the rows of other
        # tables that point at it would fail the drop (even deferred, SQLite counts them as
        # violations still at the commit). Checks are off for the migration, which must be
        # said before its transaction begins, and the whole database is checked at the end.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        _migrate(connection, sqlite)
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def _migrate(connection, sqlite: bool) -> None:  # noqa: ANN001
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several app processes may start at once: one migrates, the others wait here
            # and then find nothing left to do. (On SQLite the transaction's BEGIN IMMEDIATE
            # does the same.)
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows pointing nowhere: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
