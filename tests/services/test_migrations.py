"""The migration and the models agree, and the schema can go down and up again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import models  # noqa: F401
from services.db import get_engine
from services.migrations import downgrade_database, upgrade_database
from tests.databases import on_postgres

pytestmark = pytest.mark.usefixtures("database")
ROOT = Path(__file__).resolve().parents[2]


def test_autogenerate_finds_no_difference_between_migration_and_models():
    with get_engine().connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        assert compare_metadata(context, SQLModel.metadata) == []


def test_upgrade_downgrade_upgrade():
    downgrade_database("base")
    assert set(inspect(get_engine()).get_table_names()) <= {"alembic_version"}
    upgrade_database()
    assert set(SQLModel.metadata.tables) <= set(inspect(get_engine()).get_table_names())


def test_processes_starting_together_upgrade_the_database_once():
    downgrade_database("base")
    upgrade = "from services.migrations import upgrade_database; upgrade_database()"
    starts = [
        subprocess.Popen([sys.executable, "-c", upgrade], cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [start.communicate(timeout=120)[1].decode() for start in starts]
    assert [start.returncode for start in starts] == [0, 0, 0], errors
    assert set(SQLModel.metadata.tables) <= set(inspect(get_engine()).get_table_names())


@pytest.mark.skipif(on_postgres(), reason="SQLite's own settings")
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout():
    with get_engine().connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
