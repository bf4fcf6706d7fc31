"""Several processes share one database: every entry runs exactly once, and a process killed
with SIGKILL mid-dispatch leaves nothing lost or stuck."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlmodel import func, select

from models import Execution, QueueEntry
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.executions import LivenessPolicy
from services.run_liveness import end_lost_runs
from tests.factories import appear_online, make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")
ROOT = Path(__file__).resolve().parents[2]
LIVENESS = LivenessPolicy(stale_after=timedelta(minutes=1), lost_after=timedelta(minutes=5))


def seed(count: int) -> int:
    from services.clock import utcnow

    now = utcnow()
    supervisor = make_user(now)
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    with session_scope() as session:
        session.execute(
            insert(QueueEntry),
            [
                {
                    "agent_id": agent.agent.id,
                    "supervisor_id": supervisor.id,
                    "action": f"job{i}",
                    "parameters": {},
                    "reason": "",
                    "priority": 0,
                    "status": "pending",
                    "attempts": 0,
                    "max_attempts": 3,
                    "created_at": now,
                    "expires_at": now + timedelta(hours=1),
                }
                for i in range(count)
            ],
        )
        appear_online(session, supervisor.id, now)
    return supervisor.id


def workers(count: int, seconds: float, together: bool = False) -> list[subprocess.Popen]:
    """Dispatcher processes; `together`: they start claiming at the same moment, once all
    have started (a Python start takes about a second: the first would take everything)."""
    start_at = [str(time.time() + 4)] if together else []
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.services.dispatch_worker", str(seconds), *start_at],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
        )
        for _ in range(count)
    ]


def executions_per_entry() -> list[int]:
    with read_scope() as session:
        return list(
            session.exec(
                select(func.count()).select_from(Execution).group_by(Execution.queue_entry_id)
            ).all()
        )


def test_two_processes_dispatching_run_every_entry_exactly_once():
    seed(60)
    processes = workers(2, 6.0, together=True)
    won, lost = [], []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        won.append(int(out.split()[0]))
        lost.append(int(out.split()[1]))
    # They really competed: both won entries (SQLite's writer lock takes turns), or one's
    # claims lost to the other's (PostgreSQL: both read the same head, one update wins).
    assert sum(won) == 60 and (min(won) > 0 or sum(lost) > 0), (won, lost)
    with read_scope() as session:
        statuses = session.exec(select(QueueEntry.status)).all()
    assert set(statuses) == {"executing"}
    counts = executions_per_entry()
    assert len(counts) == 60 and set(counts) == {1}


def test_sigkill_mid_dispatch_loses_nothing_and_the_liveness_pass_offers_it_again():
    seed(200)
    [process] = workers(1, 30.0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with read_scope() as session:
            started = session.exec(
                select(func.count()).select_from(QueueEntry).where(QueueEntry.status == "executing")
            ).one()
        if started:
            break
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)  # mid-dispatch: some entries claimed, some not
    process.wait(timeout=10)
    with read_scope() as session:
        entries = session.exec(select(QueueEntry)).all()
    # Nothing half-done: every claimed entry has its execution, every other one is still pending.
    assert all((e.status == "executing") == (e.execution_id is not None) for e in entries)
    assert {e.status for e in entries} <= {"executing", "pending"}
    # The restarted app's liveness pass, once the lost threshold is over, puts work its agent
    # never asked for back to pending (no attempt spent: nothing was attempted).
    later = utcnow() + timedelta(minutes=10)
    with session_scope() as session:
        lost = end_lost_runs(session=session, now=later, policy=LIVENESS)
    with read_scope() as session:
        after = session.exec(select(QueueEntry)).all()
    assert len(lost) == sum(1 for e in entries if e.status == "executing")
    assert {e.status for e in after} == {"pending"}
    assert {e.attempts for e in after} == {0}
