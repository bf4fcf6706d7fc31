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


def test_runs_in_flight_at_the_upgrade_to_liveness_get_a_full_window_and_can_go_back():
    """0005 gives runs under way a fresh liveness window (not their age), and goes down again
    with rows in every table that points at the tables it rebuilds."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from services.db import dispose_engines

    downgrade_database("0004")
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, username, display_name, password_hash, role, is_active,"
                " created_at) VALUES (1, 'sam', 'Sam', 'x', 'supervisor', true, :at)"
            ),
            {"at": long_ago},
        )
        connection.execute(
            text(
                "INSERT INTO agents (id, name, description, category, specialties,"
                " maturity_level, supervisor_id, can_supervise, is_enabled, api_key_hash,"
                " api_key_hint, webhook_secret, created_at, updated_at)"
                " VALUES (1, 'bot', '', 'ops', '[]', 'SUPERVISED', 1, false, true, 'h', 'sva',"
                " 's', :at, :at)"
            ),
            {"at": long_ago},
        )
        connection.execute(
            text(
                "INSERT INTO executions (id, agent_id, action, parameters, reason, status,"
                " supervision, supervisor_user_id, queue_entry_id, created_at, started_at,"
                " picked_up_at, last_seq) VALUES (1, 1, 'reply', '{}', '', 'running', 'human',"
                " 1, 1, :at, :at, :at, 0)"
            ),
            {"at": long_ago},
        )
        connection.execute(
            text(
                "INSERT INTO queue_entries (id, agent_id, supervisor_id, action, parameters,"
                " reason, priority, status, attempts, max_attempts, created_at, expires_at,"
                " lease_token, execution_id) VALUES (1, 1, 1, 'reply', '{}', '', 0,"
                " 'executing', 1, 3, :at, :later, 'token', 1)"
            ),
            {"at": long_ago, "later": long_ago + timedelta(days=1)},
        )
        connection.execute(
            text(
                "INSERT INTO action_requests (agent_id, action, parameters, reason, priority,"
                " level, decision, decision_reason, queue_entry_id, execution_id, created_at)"
                " VALUES (1, 'reply', '{}', '', 0, 'SUPERVISED', 'queued', '', 1, 1, :at)"
            ),
            {"at": long_ago},
        )
    dispose_engines()
    before_upgrade = datetime.now(UTC)
    upgrade_database()
    from models import Execution
    from services.db import read_scope

    with read_scope() as session:
        run = session.get(Execution, 1)
    assert run.status == "running" and run.last_seen_at >= before_upgrade - timedelta(seconds=1)
    downgrade_database("0004")  # rebuilds executions and queue_entries under their references
    upgrade_database()
