""" "Needs you": what waits for a supervisor, from every screen, in the order to handle it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from models import Notification, Proposal
from services import execution_events, governance, interventions, run_liveness
from services.db import read_scope, session_scope
from services.executions import LivenessPolicy
from services.inbox import needs_you
from tests.factories import appear_online, make_agent, make_user
from tests.services.test_execution_races import GOVERNANCE

pytestmark = pytest.mark.usefixtures("database")
LIVENESS = LivenessPolicy(stale_after=timedelta(minutes=2), lost_after=timedelta(minutes=10))


def ask(agent, action: str, now):
    with session_scope() as session:
        return governance.route_action(
            session=session,
            agent=agent.agent,
            request=governance.ActionInput(action=action, parameters={"n": 1}),
            now=now,
            policy=GOVERNANCE,
        )


def inbox_of(user, now):
    with read_scope() as session:
        return needs_you(session=session, caller=user, now=now, liveness=LIVENESS)


def set_risk(proposal_id: int, risk: str) -> None:
    with session_scope() as session:
        session.exec(update(Proposal).where(col(Proposal.id) == proposal_id).values(risk=risk))


def test_riskiest_first_then_the_one_waiting_longest(now):
    sam = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=sam.id)
    safe_old = ask(intern, "read_old", now)
    safe_new = ask(intern, "read_new", now + timedelta(minutes=1))
    risky = ask(intern, "delete_rows", now + timedelta(minutes=2))
    set_risk(safe_old.proposal_id, "safe")
    set_risk(safe_new.proposal_id, "safe")
    set_risk(risky.proposal_id, "high")

    items = inbox_of(sam, now + timedelta(minutes=3))
    assert [i.action for i in items] == ["delete_rows", "read_old", "read_new"]
    first = items[0]
    assert first.kind == "proposal" and first.parameters == {"n": 1}
    assert first.deadline == now + timedelta(minutes=2) + GOVERNANCE.proposal_ttl


def test_held_quiet_and_lost_runs_wait_for_their_supervisor_until_closed(now):
    sam = make_user(now)
    with session_scope() as session:
        appear_online(session, sam.id, now)
    worker = make_agent(now, level="SUPERVISED", supervisor_id=sam.id)
    held = ask(worker, "held", now).execution_id
    quiet = ask(worker, "quiet", now).execution_id
    with session_scope() as session:
        interventions.intervene(
            session=session, execution_id=held, caller=sam, kind="pause", now=now
        )
    assert [(i.kind, i.action) for i in inbox_of(sam, now)] == [("paused_run", "held")]

    later = now + timedelta(minutes=3)  # quiet past the stale threshold
    with session_scope() as session:  # the held run's agent keeps asking for its controls
        execution_events.poll_controls(
            session=session, agent=worker.agent, execution_id=held, now=later, ack=[]
        )
    items = {i.action: i for i in inbox_of(sam, later)}
    assert {a: i.kind for a, i in items.items()} == {"held": "paused_run", "quiet": "stale_run"}
    assert items["held"].since == now  # held since the pause, not since the last poll

    much_later = now + timedelta(minutes=14)
    with session_scope() as session:
        run_liveness.end_lost_runs(session=session, now=much_later, policy=LIVENESS)
    lost = {i.action: i for i in inbox_of(sam, much_later) if i.kind == "lost_run"}
    assert set(lost) == {"held", "quiet"}  # a held run's agent must still be heard from
    assert lost["quiet"].risk == "high"
    assert lost["quiet"].detail == "Lost: the agent was last heard 14 min ago."
    with session_scope() as session:  # its supervisor looked and closed it
        interventions.complete_supervision(
            session=session,
            execution_id=quiet,
            caller=sam,
            now=much_later,
            note="checked: nothing was sent",
            rating=3,
        )
    assert [i.action for i in inbox_of(sam, much_later)] == ["held"]


def test_queued_work_and_failed_callbacks_are_there_too(now):
    sam = make_user(now)  # away: supervised work waits in the queue
    worker = make_agent(now, level="SUPERVISED", supervisor_id=sam.id)
    queued = ask(worker, "report", now)
    assert queued.decision == "queued"
    with session_scope() as session:
        session.add(
            Notification(
                agent_id=worker.agent.id,
                url="http://127.0.0.1:9/hook",
                event="proposal.decided",
                created_at=now,
                next_attempt_at=now,
                failed_at=now,
                last_error="connection refused",
            )
        )
    items = inbox_of(sam, now + timedelta(minutes=1))
    assert {i.kind for i in items} == {"queued", "failed_callback"}
    failed = next(i for i in items if i.kind == "failed_callback")
    assert "connection refused" in failed.detail
    # A failure a day old is history (the agent's history page keeps it).
    assert {i.kind for i in inbox_of(sam, now + timedelta(days=2))} == {"queued"}


def test_each_sees_their_own_an_admin_the_team_a_viewer_nothing(now):
    sam, riley = make_user(now), make_user(now)
    admin, viewer = make_user(now, role="admin"), make_user(now, role="viewer")
    ask(make_agent(now, level="INTERN", supervisor_id=sam.id), "sams", now)
    ask(make_agent(now, level="INTERN", supervisor_id=riley.id), "rileys", now)
    assert [i.action for i in inbox_of(sam, now)] == ["sams"]
    assert [i.action for i in inbox_of(riley, now)] == ["rileys"]
    assert {i.action for i in inbox_of(admin, now)} == {"sams", "rileys"}
    assert inbox_of(viewer, now) == []
