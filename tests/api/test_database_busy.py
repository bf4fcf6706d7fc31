"""A stuck database does not hang the API (#16, item 5): a write waits at most
DB_WRITE_WAIT_S, then answers JSON 503 with Retry-After and writes nothing; the same request
retried with its idempotency key then acts exactly once."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import select

from models import ActionRequest, Execution
from services.config import get_settings
from services.db import dispose_engines, read_scope
from tests.databases import on_postgres
from tests.factories import make_agent

# Each lock exists on one database; `make test` runs the suite on both, so each test runs
# where its lock is (SQLite: the file lock and this process's writer lock; PostgreSQL: rows).
ON_SQLITE = pytest.mark.skipif(on_postgres(), reason="SQLite's locks")
ON_POSTGRES = pytest.mark.skipif(not on_postgres(), reason="PostgreSQL's row locks")


@pytest.fixture
def short_wait(database, monkeypatch):
    monkeypatch.setenv("DB_WRITE_WAIT_S", "1")
    get_settings.cache_clear()
    dispose_engines()
    yield database
    get_settings.cache_clear()
    dispose_engines()


def act(client, agent, key="order-77"):
    return client.post(
        "/api/v1/actions",
        json={"action": "work", "idempotency_key": key},
        headers={"Authorization": f"Bearer {agent.api_key}"},
    )


@ON_SQLITE
def test_a_write_behind_another_processs_lock_answers_503_then_the_retry_acts_once(
    short_wait, client, now
):
    agent = make_agent(now)
    holder = sqlite3.connect(short_wait.removeprefix("sqlite:///"), timeout=0)
    holder.isolation_level = None
    holder.execute("BEGIN IMMEDIATE")  # another process's long write, as far as SQLite knows
    try:
        busy = act(client, agent)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"] == "1"
    assert "nothing was written" in busy.json()["detail"]
    with read_scope() as session:
        assert session.exec(select(ActionRequest)).all() == []
    first, again = act(client, agent), act(client, agent)
    assert first.status_code == again.status_code == 200
    assert first.json()["execution_id"] == again.json()["execution_id"]
    assert again.json()["replayed"] is True
    with read_scope() as session:
        assert len(session.exec(select(ActionRequest)).all()) == 1
        assert len(session.exec(select(Execution)).all()) == 1


@ON_SQLITE
def test_a_write_behind_a_long_write_in_this_process_answers_503(short_wait, client, now):
    from services.db import session_scope

    agent = make_agent(now)
    holding, release = threading.Event(), threading.Event()

    def long_write():
        with session_scope():
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=long_write)
    writer.start()
    try:
        assert holding.wait(5)
        busy = act(client, agent)
    finally:
        release.set()
        writer.join(10)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert act(client, agent).status_code == 200


@ON_POSTGRES
def test_a_report_behind_a_locked_run_row_answers_503(short_wait, client, now):
    agent = make_agent(now)
    headers = {"Authorization": f"Bearer {agent.api_key}"}
    run = act(client, agent).json()["execution_id"]
    other = create_engine(short_wait)
    with other.connect() as holder:
        holder.execute(
            text("SELECT id FROM executions WHERE id = :id FOR UPDATE"), {"id": run}
        )  # another process holds the run's row
        busy = client.post(
            f"/api/v1/executions/{run}/events",
            json={"events": [{"type": "log", "message": "step 1"}]},
            headers=headers,
        )
        holder.rollback()
    other.dispose()
    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"] == "1"
    retried = client.post(
        f"/api/v1/executions/{run}/events",
        json={"events": [{"type": "log", "message": "step 1"}]},
        headers=headers,
    )
    assert retried.status_code == 200, retried.text
