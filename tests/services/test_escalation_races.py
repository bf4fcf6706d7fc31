"""Two escalation passes (two processes' schedulers, or a pass racing the reviewer) moving one
proposal at the same moment: it moves once — one hop, one audit event, one message to the agent.

Both sides read the proposal while a third connection holds its row, then it lets go. On
PostgreSQL (TEST_DATABASE_URL) this shows the conditional update at work: without the step in
its WHERE clause both sides move the proposal (checked: two `proposal.escalated` events). On
SQLite the writer lock serialises the two sides whatever the code does, so there the test only
checks the outcome.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from models import AuditEvent, Proposal
from services import escalation
from services.db import get_engine, is_sqlite, read_scope, session_scope
from tests.factories import make_agent, make_user
from tests.services.test_escalation import (
    POLICY,
    delegate,
    online,
    propose,
)

pytestmark = pytest.mark.usefixtures("database")
BOTH_WAITING_S = 0.4


@contextmanager
def proposal_held(proposal_id: int):
    with get_engine().connect() as connection:
        transaction = connection.begin()
        if not is_sqlite():
            connection.execute(
                text("SELECT id FROM proposals WHERE id = :id FOR UPDATE"), {"id": proposal_id}
            )
        try:
            yield
        finally:
            transaction.rollback()


def move(proposal_id, kind, now):
    with session_scope() as session:
        return escalation.move_on(
            session=session,
            proposal_id=proposal_id,
            now=now,
            policy=POLICY,
            cause="nobody decided in time",
            expected_kind=kind,
        )


def test_two_passes_move_a_proposal_once(now):
    sam, riley = make_user(now), make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=sam.id)
    online(sam, now)
    online(riley, now)
    delegate(sam, riley, now, now + timedelta(days=1), now)
    proposal_id = propose(intern, now)
    later = now + timedelta(minutes=60)
    online(riley, later - timedelta(minutes=1))
    with ThreadPoolExecutor(max_workers=2) as pool, proposal_held(proposal_id):
        first = pool.submit(move, proposal_id, "supervisor", later)
        time.sleep(BOTH_WAITING_S / 2)
        second = pool.submit(move, proposal_id, "supervisor", later)
        time.sleep(BOTH_WAITING_S / 2)
    outcomes = []
    for future in (first, second):
        try:
            outcomes.append(future.result(timeout=30))
        except Exception as error:  # noqa: BLE001 - SQLite may refuse the stale writer
            outcomes.append(error)
    moved = [o for o in outcomes if isinstance(o, escalation.Move)]
    assert len(moved) == 1 and moved[0].kind == "delegate"
    with read_scope() as session:
        hops = session.get(Proposal, proposal_id).hops
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "proposal.escalated")
        ).all()
    assert [h["step"] for h in hops] == ["supervisor", "delegate"]
    assert len(events) == 1
