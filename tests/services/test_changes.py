"""Committed changes are announced with topics that say what changed, once, and only if the
transaction commits; on PostgreSQL, other processes hear them too (services.change_relay)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col

from models import Proposal, QueueEntry
from services import changes, execution_events, governance, interventions
from services.change_relay import ChangeRelay, topics_from
from services.changes import EVERYTHING, note_change, notify_payload, touches
from services.db import session_scope
from services.execution_events import LogEvent
from supervision_app.api.live import ChangeFeed
from tests.databases import on_postgres
from tests.factories import appear_online, make_agent, make_user
from tests.services.test_execution_races import GOVERNANCE

ROOT = Path(__file__).resolve().parents[2]


class Heard:
    """Every announcement this process's listeners receive, in order."""

    def __init__(self) -> None:
        self.announcements: list[frozenset[str]] = []
        self.arrived = threading.Condition()

    def __call__(self, topics: frozenset[str]) -> None:
        with self.arrived:
            self.announcements.append(topics)
            self.arrived.notify_all()

    def topics(self) -> set[str]:
        return set().union(*self.announcements) if self.announcements else set()

    def wait_for(self, topic: str, timeout: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: topic in self.topics(), timeout=timeout)


@pytest.fixture
def heard(database) -> Iterator[Heard]:
    listener = Heard()
    changes.on_committed_changes(listener)
    yield listener
    changes._listeners.remove(listener)


def ask(agent, action: str, now):
    """The agent asks to act, as its HTTP request would."""
    with session_scope() as session:
        return governance.route_action(
            session=session,
            agent=agent.agent,
            request=governance.ActionInput(action=action),
            now=now,
            policy=GOVERNANCE,
        )


def start_watched_run(now):
    supervisor = make_user(now)
    with session_scope() as session:
        appear_online(session, supervisor.id, now)
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    decision = ask(agent, "reply", now)
    return supervisor, agent, decision.execution_id


def test_a_run_report_announces_its_events_and_a_pause_announces_the_run(heard, now):
    supervisor, agent, run = start_watched_run(now)
    assert {"execution", f"execution:{run}", "action_request"} <= heard.topics()

    heard.announcements.clear()
    with session_scope() as session:
        execution_events.record_events(
            session=session,
            agent=agent.agent,
            execution_id=run,
            events=[LogEvent(type="log", message="hello")],
            now=now,
        )
    assert heard.announcements[-1] >= {f"events:{run}"}
    assert "proposal" not in heard.topics()  # a page of proposals has nothing to reload

    heard.announcements.clear()
    with session_scope() as session:
        interventions.intervene(
            session=session, execution_id=run, caller=supervisor, kind="pause", now=now
        )
    assert len(heard.announcements) == 1  # one commit, one announcement
    assert {f"execution:{run}", f"events:{run}"} <= heard.announcements[0]


def test_a_change_that_rolls_back_is_never_announced(heard):
    with pytest.raises(RuntimeError), session_scope() as session:
        note_change(session, "proposal:7")
        raise RuntimeError("the transaction fails")
    with session_scope() as session:
        pass  # a later commit on a reused connection announces nothing left over
    assert heard.announcements == []


def test_pages_match_topics_by_kind_or_exactly():
    assert touches({"proposal:41"}, {"proposal"})
    assert touches({"events:7"}, {"events:7", "execution:7"})
    assert not touches({"events:8"}, {"events:7", "execution:7"})
    assert not touches({"presence"}, {"proposal", "agent"})
    assert touches({EVERYTHING}, {"proposal"})
    assert not touches({EVERYTHING}, set())  # a page that shows nothing live


def test_a_follower_that_fell_behind_the_feed_hears_that_everything_may_have_changed():
    feed = ChangeFeed()
    feed._wake(frozenset({"proposal:1"}))
    feed._wake(frozenset({"events:3"}))
    assert feed.since(0) == {"proposal:1", "events:3"}
    assert feed.since(1) == {"events:3"}
    assert feed.since(2) == set()
    for _ in range(2100):  # more than the feed keeps
        feed._wake(frozenset({"events:3"}))
    assert feed.since(0) == {EVERYTHING}


def test_a_notification_too_long_for_postgresql_says_everything():
    many = {f"events:{n}" for n in range(5000)}
    assert topics_from(notify_payload(many).replace(changes.PROCESS_ID, "other")) == {EVERYTHING}
    assert topics_from(notify_payload({"proposal:1"})) is None  # our own: already heard
    assert topics_from("not json") is None


COMMIT_ELSEWHERE = """
from services.changes import note_change
from services.db import session_scope
with session_scope() as session:
    note_change(session, "proposal:99")
"""


@pytest.mark.skipif(not on_postgres(), reason="several processes share PostgreSQL only")
def test_a_change_committed_by_another_process_is_heard_here(heard, database):
    relay = ChangeRelay(database)
    relay.start()
    try:
        assert relay.listening.wait(10)
        env = {**os.environ, "DATABASE_URL": database}
        subprocess.run([sys.executable, "-c", COMMIT_ELSEWHERE], cwd=ROOT, env=env, check=True)
        assert heard.wait_for("proposal:99")

        heard.announcements.clear()
        with session_scope() as session:  # this process's own change: heard once, not twice
            note_change(session, "proposal:100")
        assert heard.wait_for("proposal:100")
        subprocess.run([sys.executable, "-c", COMMIT_ELSEWHERE], cwd=ROOT, env=env, check=True)
        assert heard.wait_for("proposal:99")
        assert sum("proposal:100" in topics for topics in heard.announcements) == 1
    finally:
        relay.stop()


def test_a_new_proposal_and_a_queued_entry_are_announced_to_their_lists(heard, now):
    supervisor = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    ask(intern, "export", now)
    assert "proposal" in heard.topics()
    supervised = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    # the supervisor is away: the work waits in the queue
    decision = ask(supervised, "report", now)
    assert decision.decision == "queued" and "queue_entry" in heard.topics()


def test_a_set_based_move_is_announced_by_its_kind(heard, now):
    supervisor = make_user(now)
    supervised = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    decision = ask(supervised, "report", now)
    heard.announcements.clear()
    with session_scope() as session:  # as claims and fenced moves do: no object, no audit
        session.exec(
            update(QueueEntry)
            .where(col(QueueEntry.id) == decision.queue_entry_id)
            .values(priority=5)
        )
    assert heard.topics() == {"queue_entry"}


def test_bookkeeping_columns_moved_set_based_are_not_announced(heard, now):
    supervisor = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    decision = ask(intern, "export", now)
    heard.announcements.clear()
    with session_scope() as session:  # a review claim: no screen shows it
        session.exec(
            update(Proposal)
            .where(col(Proposal.id) == decision.proposal_id)
            .values(review_claim="abc", review_claimed_at=now)
        )
    assert heard.announcements == []


MOVE_ELSEWHERE = """
import sys
import services.executions  # loaded by every app process (it announces through services.changes)
from models import Execution
from services.db import session_scope
with session_scope() as session:
    run = session.get(Execution, int(sys.argv[1]))
    run.current_step = "moved elsewhere"
    run.status = "paused"  # not flushed before the commit: the commit flushes it
"""


@pytest.mark.skipif(not on_postgres(), reason="several processes share PostgreSQL only")
def test_a_run_moved_by_another_process_is_heard_here_even_unflushed(heard, database, now):
    _, _, run = start_watched_run(now)
    relay = ChangeRelay(database)
    relay.start()
    try:
        assert relay.listening.wait(10)
        heard.announcements.clear()
        env = {**os.environ, "DATABASE_URL": database}
        subprocess.run(
            [sys.executable, "-c", MOVE_ELSEWHERE, str(run)], cwd=ROOT, env=env, check=True
        )
        assert heard.wait_for(f"execution:{run}")
    finally:
        relay.stop()
