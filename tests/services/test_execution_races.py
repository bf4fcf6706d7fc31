"""Races on one run, held in lock-step: a third connection holds the run's row while both
sides start, then lets go, so both have read the run before either may write.

On PostgreSQL (TEST_DATABASE_URL) this shows the row lock in services/executions.py at work:
without it both sides read the same `last_seq` and the second insert hits the
(execution_id, seq) key, and terminate and complete both "win". On SQLite the writer lock
serialises the two sides whatever the code does, so there the tests only check the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from models import Execution, ExecutionEvent
from services import execution_events, governance, interventions
from services.db import get_engine, is_sqlite, read_scope, session_scope
from services.errors import Conflict
from services.execution_events import CompletedEvent, LogEvent, ProgressEvent
from services.executions import LivenessPolicy
from services.governance import ActionInput, GovernancePolicy
from services.run_liveness import end_lost_runs
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import appear_online, make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")
GOVERNANCE = GovernancePolicy(
    presence=RULES,
    proposal_ttl=timedelta(hours=1),
    queue_ttl=timedelta(hours=1),
    queue_max_attempts=3,
)
LIVENESS = LivenessPolicy(stale_after=timedelta(minutes=1), lost_after=timedelta(minutes=5))
BOTH_WAITING_S = 0.4  # long enough for both sides to reach the held row


@contextmanager
def row_held(execution_id: int) -> Iterator[None]:
    """Hold the run's row (PostgreSQL) or the database's write lock (SQLite) until exit."""
    with get_engine().connect() as connection:
        transaction = connection.begin()  # BEGIN IMMEDIATE on SQLite: the write lock
        if not is_sqlite():
            connection.execute(
                text("SELECT id FROM executions WHERE id = :id FOR UPDATE"), {"id": execution_id}
            )
        try:
            yield
        finally:
            transaction.rollback()


def side_by_side(first: Callable[[], object], second: Callable[[], object], execution_id: int):
    """Start `first`, then `second`, while the row is held; let both go; their futures."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        with row_held(execution_id):
            a = pool.submit(first)
            time.sleep(BOTH_WAITING_S / 2)
            b = pool.submit(second)
            time.sleep(BOTH_WAITING_S / 2)
        return wait(a), wait(b)


def wait(future: Future) -> object:
    try:
        return future.result(timeout=30)
    except Exception as error:  # noqa: BLE001 - the outcome is what the tests compare
        return error


@pytest.fixture
def watched_run(now):
    supervisor = make_user(now)
    with session_scope() as session:
        appear_online(session, supervisor.id, now)
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    with session_scope() as session:
        decision = governance.route_action(
            session=session,
            agent=agent.agent,
            request=ActionInput(action="reply"),
            now=now,
            policy=GOVERNANCE,
        )
    assert decision.decision == "approved_to_run"
    report(agent, decision.execution_id, [LogEvent(type="log", message="started")], now)
    return supervisor, agent, decision.execution_id


def report(agent, execution_id, events, now):
    with session_scope() as session:
        return execution_events.record_events(
            session=session, agent=agent.agent, execution_id=execution_id, events=events, now=now
        )


def steer(supervisor, execution_id, kind, now, text=None):
    with session_scope() as session:
        return interventions.intervene(
            session=session,
            execution_id=execution_id,
            caller=supervisor,
            kind=kind,
            text=text,
            now=now,
        )


def run_of(execution_id: int) -> Execution:
    with read_scope() as session:
        return session.get(Execution, execution_id)


def seqs(execution_id: int) -> list[int]:
    with read_scope() as session:
        return list(
            session.exec(
                select(ExecutionEvent.seq)
                .where(ExecutionEvent.execution_id == execution_id)
                .order_by(ExecutionEvent.seq)
            ).all()
        )


def test_a_correction_while_the_agent_reports_keeps_both_in_sequence(watched_run, now):
    supervisor, agent, execution_id = watched_run
    logged, corrected = side_by_side(
        lambda: report(agent, execution_id, [LogEvent(type="log", message="line")], now),
        lambda: steer(supervisor, execution_id, "correction", now, "formal tone"),
        execution_id,
    )
    assert not isinstance(logged, Exception), logged
    assert not isinstance(corrected, Exception), corrected
    assert seqs(execution_id) == [1, 2, 3]
    assert run_of(execution_id).last_seq == 3


def test_terminate_racing_complete_has_one_winner(watched_run, now):
    supervisor, agent, execution_id = watched_run
    completed, terminated = side_by_side(
        lambda: report(agent, execution_id, [CompletedEvent(type="completed")], now),
        lambda: steer(supervisor, execution_id, "terminate", now, "stop"),
        execution_id,
    )
    assert not isinstance(completed, Exception), completed
    completion_won = completed.accepted == 1
    if completion_won:
        assert isinstance(terminated, Conflict)  # cannot terminate a completed run
    else:
        assert not isinstance(terminated, Exception), terminated
        assert completed.status == "terminated" and completed.detail  # refused, told to stop
    assert run_of(execution_id).status == ("completed" if completion_won else "terminated")


def test_the_liveness_pass_never_ends_a_run_whose_report_was_accepted(watched_run, now):
    _, agent, execution_id = watched_run
    late = now + LIVENESS.lost_after + timedelta(seconds=1)

    def liveness_pass():
        with session_scope() as session:
            return end_lost_runs(session=session, now=late, policy=LIVENESS)

    reported, lost = side_by_side(
        lambda: report(agent, execution_id, [LogEvent(type="log", message="still here")], late),
        liveness_pass,
        execution_id,
    )
    status = run_of(execution_id).status
    assert not isinstance(reported, Exception), reported
    if reported.accepted == 0:
        assert lost == [execution_id] and status == "lost"
    else:
        assert lost == [] and status == "running"


def test_two_reports_at_once_each_get_their_own_lines(watched_run, now):
    """Two reports to a running run (the one-statement path both): neither line is lost,
    none shares a sequence number."""
    _, agent, execution_id = watched_run
    first, second = side_by_side(
        lambda: report(agent, execution_id, [LogEvent(type="log", message="a")] * 2, now),
        lambda: report(agent, execution_id, [LogEvent(type="log", message="b")] * 3, now),
        execution_id,
    )
    assert not isinstance(first, Exception), first
    assert not isinstance(second, Exception), second
    assert sorted([first.last_seq, second.last_seq]) in ([3, 6], [4, 6])
    assert seqs(execution_id) == [1, 2, 3, 4, 5, 6]
    assert run_of(execution_id).last_seq == 6


def test_progress_reported_as_the_run_is_paused_is_held(watched_run, now):
    """The pause reaches the run first; the progress report that was already on its way
    must not be stored while the run is paused (it is refused, and told the run is paused)."""
    supervisor, agent, execution_id = watched_run
    progress = ProgressEvent(type="progress", step="deploy", step_index=1, total_steps=2)
    paused, reported = side_by_side(
        lambda: steer(supervisor, execution_id, "pause", now, None),
        lambda: report(agent, execution_id, [progress], now),
        execution_id,
    )
    assert not isinstance(paused, Exception), paused
    assert not isinstance(reported, Exception), reported
    assert reported.accepted == 0 and reported.paused
    run = run_of(execution_id)
    assert run.status == "paused" and run.current_step is None
    assert seqs(execution_id) == [1, 2]  # "started", then the pause in the log
