"""Agents' keys are resolved once and then served from memory, yet a change to the agent
(level, key, disabling) takes effect on its very next request: at once in this process, and on
PostgreSQL as soon as another process's commit is heard."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import update

from models import Agent
from services import agent_key_cache, changes
from services.actors import Actor
from services.agent_key_cache import agent_keys, cached_agent, resolve_agent
from services.agents import rotate_agent_key, update_agent
from services.change_relay import ChangeRelay
from services.changes import AGENT_ROWS_CHANGED
from services.db import session_scope
from services.errors import AgentDisabled, AuthenticationFailed
from tests.databases import on_postgres
from tests.factories import make_agent

ROOT = Path(__file__).resolve().parents[2]
ADMIN = Actor.system("tests")


@pytest.fixture(autouse=True)
def empty_cache(database):
    agent_keys.clear()
    yield
    agent_keys.clear()


def change(agent_id: int, now, **fields) -> None:
    with session_scope() as session:
        update_agent(session=session, agent_id=agent_id, now=now, actor=ADMIN, **fields)


def test_a_key_is_looked_up_once_then_served_from_memory(now):
    credentials = make_agent(now)
    assert cached_agent(credentials.api_key) is None
    assert resolve_agent(credentials.api_key).id == credentials.agent.id
    assert cached_agent(credentials.api_key) == credentials.agent


def test_a_level_change_reaches_the_next_request(now):
    credentials = make_agent(now, level="AUTONOMOUS")
    resolve_agent(credentials.api_key)
    change(credentials.agent.id, now, maturity_level="STUDENT")
    assert cached_agent(credentials.api_key) is None
    assert resolve_agent(credentials.api_key).maturity_level == "STUDENT"


def test_a_disabled_agent_is_refused_at_once_and_never_kept(now):
    credentials = make_agent(now)
    resolve_agent(credentials.api_key)
    change(credentials.agent.id, now, is_enabled=False)
    assert cached_agent(credentials.api_key) is None
    with pytest.raises(AgentDisabled):
        resolve_agent(credentials.api_key)
    assert cached_agent(credentials.api_key) is None


def test_a_rotated_key_stops_working_at_once(now):
    credentials = make_agent(now)
    resolve_agent(credentials.api_key)
    with session_scope() as session:
        fresh = rotate_agent_key(
            session=session, agent_id=credentials.agent.id, now=now, actor=ADMIN
        )
    assert cached_agent(credentials.api_key) is None
    with pytest.raises(AuthenticationFailed):
        resolve_agent(credentials.api_key)
    assert resolve_agent(fresh.api_key).id == credentials.agent.id


def test_a_change_committed_while_a_key_was_being_read_is_not_hidden(now, monkeypatch):
    """The look-up read the agent before the change committed: what it read is not kept."""
    credentials = make_agent(now)
    real_authenticate = agent_key_cache.authenticate_agent

    def read_then_someone_changes_it(**kwargs):
        agent = real_authenticate(**kwargs)
        change(credentials.agent.id, now, maturity_level="STUDENT")
        return agent

    monkeypatch.setattr(agent_key_cache, "authenticate_agent", read_then_someone_changes_it)
    assert resolve_agent(credentials.api_key).maturity_level == "AUTONOMOUS"
    assert cached_agent(credentials.api_key) is None


def test_an_entry_lives_no_longer_than_the_ttl(now, monkeypatch):
    credentials = make_agent(now)
    resolve_agent(credentials.api_key)
    later = time.monotonic() + agent_key_cache.TTL_S + 0.001
    monkeypatch.setattr("services.token_cache.time.monotonic", lambda: later)
    assert cached_agent(credentials.api_key) is None


DEMOTE_ELSEWHERE = """
import sys
from services.actors import Actor
from services.agents import update_agent
from services.clock import utcnow
from services.db import session_scope
with session_scope() as session:
    update_agent(session=session, agent_id=int(sys.argv[1]), now=utcnow(),
                 actor=Actor.system("elsewhere"), maturity_level="STUDENT")
"""


@pytest.mark.skipif(not on_postgres(), reason="several processes share PostgreSQL only")
def test_a_change_made_by_another_process_clears_this_processs_keys(now, database):
    credentials = make_agent(now, level="AUTONOMOUS")
    resolve_agent(credentials.api_key)
    heard = threading.Event()

    def hear(topics: frozenset[str]) -> None:
        if AGENT_ROWS_CHANGED in topics:
            heard.set()

    changes.on_committed_changes(hear)
    relay = ChangeRelay(database)
    relay.start()
    try:
        assert relay.listening.wait(10)
        env = {**os.environ, "DATABASE_URL": database}
        subprocess.run(
            [sys.executable, "-c", DEMOTE_ELSEWHERE, str(credentials.agent.id)],
            cwd=ROOT,
            env=env,
            check=True,
        )
        # The cache's own listener was registered first: it has run when ours hears the topic.
        assert heard.wait(10)
        assert cached_agent(credentials.api_key) is None
        assert resolve_agent(credentials.api_key).maturity_level == "STUDENT"
    finally:
        relay.stop()
        changes._listeners.remove(hear)


def test_a_set_based_change_to_agents_clears_the_keys_too(now):
    """A statement that changes agent rows without ORM objects (a script, a maintenance job)."""
    credentials = make_agent(now)
    resolve_agent(credentials.api_key)
    with session_scope() as session:
        session.execute(update(Agent).values(is_enabled=False))
    assert cached_agent(credentials.api_key) is None
    with pytest.raises(AgentDisabled):
        resolve_agent(credentials.api_key)
