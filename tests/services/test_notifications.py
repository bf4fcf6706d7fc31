import json
from datetime import timedelta

import pytest
from sqlmodel import select

from models import Notification
from services import agents as agent_service
from services import notifications, proposals
from services.actors import Actor
from services.db import read_scope, session_scope
from services.governance import ActionInput, GovernancePolicy, route_action
from services.outbound_urls import CheckedUrl
from supervision_app.client import verify_signature
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")
POLICY = GovernancePolicy(
    presence=RULES,
    proposal_ttl=timedelta(hours=1),
    queue_ttl=timedelta(hours=1),
    queue_max_attempts=3,
)


@pytest.fixture
def decided(now):
    human = make_user(now)
    intern = make_agent(
        now, level="INTERN", supervisor_id=human.id, callback_url="http://127.0.0.1:9/hook"
    )
    with session_scope() as session:
        decision = route_action(
            session=session,
            agent=intern.agent,
            request=ActionInput(action="export"),
            now=now,
            policy=POLICY,
        )
    with session_scope() as session:
        proposals.reject_proposal(
            session=session,
            proposal_id=decision.proposal_id,
            caller=human,
            reason="not today",
            now=now,
        )
    return intern, decision


def deliver(now, post):
    with session_scope() as session:
        due = notifications.claim_due(session=session, now=now)
    for delivery in due:
        try:
            status, error = post(delivery.url, delivery.body, delivery.headers), None
        except OSError as failure:
            status, error = None, str(failure)
        with session_scope() as session:
            notifications.record_result(
                session=session, delivery=delivery, now=now, status=status, error=error
            )
    return due


def test_decision_is_announced_once_with_a_valid_signature(decided, now):
    intern, decision = decided
    sent = []
    deliver(now, lambda url, body, headers: sent.append((url, body, headers)) or 200)
    [(url, body, headers)] = sent
    payload = json.loads(body)
    assert payload["event"] == "proposal.rejected" and payload["reason"] == "not today"
    assert verify_signature(intern.webhook_secret, body, headers["X-Supervision-Signature"])
    assert not verify_signature("wrong secret", body, headers["X-Supervision-Signature"])
    assert deliver(now + timedelta(hours=1), lambda *a: 200) == []  # delivered: never sent again


def test_failures_retry_with_growing_backoff_then_give_up(decided, now):
    def down(*_args):
        raise OSError("connection refused")

    clock = now
    for attempt in range(1, notifications.MAX_ATTEMPTS + 1):
        assert len(deliver(clock, down)) == 1
        assert deliver(clock, down) == []  # not due again at once
        clock += notifications.backoff_after(attempt)
    with read_scope() as session:
        [row] = session.exec(select(Notification)).all()
    assert row.failed_at is not None and row.attempts == notifications.MAX_ATTEMPTS
    assert "connection refused" in row.last_error


def test_agents_without_callback_get_no_notifications(now):
    human = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=human.id)
    with session_scope() as session:
        decision = route_action(
            session=session,
            agent=intern.agent,
            request=ActionInput(action="x"),
            now=now,
            policy=POLICY,
        )
        proposals.approve_proposal(
            session=session, proposal_id=decision.proposal_id, caller=human, now=now
        )
    with read_scope() as session:
        assert session.exec(select(Notification)).all() == []
    with session_scope() as session:
        agent_service.update_agent(
            session=session,
            agent_id=intern.agent.id,
            callback_url=CheckedUrl("http://x/hook"),  # storing only: nothing is sent
            now=now,
            actor=Actor.system(),
        )
