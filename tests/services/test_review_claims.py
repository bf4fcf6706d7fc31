"""A review is claim → act → apply: one worker reviews a proposal, and the model is called
with no transaction open and no lock held."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from models import ActorType, Execution, Proposal
from services import autonomous_review, governance, llm
from services.actors import Actor
from services.clock import utcnow
from services.config import get_settings
from services.db import _sqlite_writer, get_engine, is_sqlite, read_scope, session_scope
from services.governance import ActionInput, GovernancePolicy
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")
APPROVE = json.dumps(
    {"decision": "approve", "confidence": 0.95, "risk": "safe", "reasons": ["read-only"]}
)


def assert_no_transaction_open() -> None:
    """Called from inside a (mock) model call: nothing of ours holds the database."""
    if is_sqlite():
        # This process's write lock is free: another write could go on right now.
        assert _sqlite_writer.acquire(timeout=1), "the writer lock is held during the call"
        _sqlite_writer.release()
        return
    with get_engine().connect() as other:  # no connection sits in a transaction
        open_transactions = other.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        ).scalar()
        other.rollback()
    assert open_transactions == 0, "a transaction is open during the call"


@pytest.fixture
def waiting_proposal(now, monkeypatch):
    monkeypatch.setenv("LLM_MODEL", "gpt-4o-mini")
    get_settings.cache_clear()
    human = make_user(now)  # never online: the autonomous supervisor steps in
    intern = make_agent(now, level="INTERN", supervisor_id=human.id, category="data")
    make_agent(now, level="AUTONOMOUS", category="data", can_supervise=True)
    with session_scope() as session:
        decision = governance.route_action(
            session=session,
            agent=intern.agent,
            request=ActionInput(action="list_reports"),
            now=utcnow(),  # the review below runs on the real clock: not expired by then
            policy=GovernancePolicy(RULES, timedelta(hours=1), timedelta(hours=1), 3),
        )
    return decision.proposal_id


def test_the_model_is_called_with_no_transaction_open_and_no_lock_held(
    waiting_proposal, monkeypatch
):
    seen: list[str] = []

    def model(**_kwargs):
        assert_no_transaction_open()
        seen.append("called")
        return APPROVE

    monkeypatch.setattr(llm, "complete_json", model)
    result = autonomous_review.review_if_unattended(waiting_proposal)
    assert seen == ["called"] and result is not None and result.auto_approved
    with read_scope() as session:
        assert session.get(Proposal, waiting_proposal).status == "approved"


def test_two_workers_review_a_proposal_once(waiting_proposal, monkeypatch):
    calls: list[float] = []

    def slow_model(**_kwargs):
        calls.append(time.monotonic())
        time.sleep(0.3)  # a model takes time: both workers are in flight together
        return APPROVE

    monkeypatch.setattr(llm, "complete_json", slow_model)
    start = threading.Barrier(2)
    results: list[object] = []

    def worker() -> None:
        start.wait()
        results.append(autonomous_review.review_if_unattended(waiting_proposal))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(calls) == 1
    assert sorted(r is None for r in results) == [False, True]
    assert (
        autonomous_review.review_if_unattended(waiting_proposal) is None
    )  # decided: nothing to do


def test_a_review_that_fails_releases_its_claim(waiting_proposal, monkeypatch):
    from services import review

    def broken(_job, _policy):
        raise RuntimeError("reviewer crashed")

    monkeypatch.setattr(review, "decide", broken)
    with pytest.raises(RuntimeError):
        autonomous_review.run_review(waiting_proposal)
    with read_scope() as session:
        assert review.waiting_for_review(session=session, now=utcnow()) == [waiting_proposal]
    assert autonomous_review.review_waiting_proposals() == 1  # logged, not raised


def test_a_verdict_after_a_human_decided_changes_nothing(waiting_proposal, now, monkeypatch):
    from services import proposals, review
    from services.policy import review_policy

    monkeypatch.setattr(llm, "complete_json", lambda **_kwargs: APPROVE)

    with session_scope() as session:
        job = review.claim_review(session=session, proposal_id=waiting_proposal, now=utcnow())
    admin = make_user(now, role="admin")
    with session_scope() as session:
        proposals.reject_proposal(
            session=session,
            proposal_id=waiting_proposal,
            caller=admin,
            now=utcnow(),
            reason="not now",
        )
    verdict = review.decide(job, review_policy())
    with session_scope() as session:
        review.apply_review(
            session=session, job=job, review=verdict, now=utcnow(), policy=review_policy()
        )
    with read_scope() as session:
        decided = session.get(Proposal, waiting_proposal)
    assert decided.status == "rejected" and decided.review is None


def test_a_proposal_its_agent_withdrew_during_the_review_is_not_approved(
    waiting_proposal, monkeypatch
):
    """The agent gives up while the model thinks: the verdict that comes back approves
    nothing (a run nobody would start), and the proposal stays withdrawn."""
    from services import proposals

    with read_scope() as session:
        agent_id = session.get(Proposal, waiting_proposal).agent_id

    def model(**_kwargs):
        with session_scope() as session:
            assert proposals.withdraw_by_agent(
                session=session,
                agent_id=agent_id,
                proposal_id=waiting_proposal,
                actor=Actor(ActorType.AGENT, agent_id, "intern"),
                reason="the caller cancelled",
                now=utcnow(),
            )
        return APPROVE

    monkeypatch.setattr(llm, "complete_json", model)
    autonomous_review.review_if_unattended(waiting_proposal)
    with read_scope() as session:
        proposal = session.get(Proposal, waiting_proposal)
        runs = session.exec(select(Execution).where(Execution.proposal_id == waiting_proposal))
        assert proposal.status == "withdrawn" and proposal.execution_id is None
        assert runs.all() == []


def test_a_burst_of_proposals_takes_a_few_review_workers_and_leaves_the_rest_to_the_pass(
    now, monkeypatch
):
    """Reviews run in their own small pool, never in the web server's threads: with a model
    that does not answer, 4 run, 4 wait, and the rest are left for the scheduler's pass."""
    monkeypatch.setenv("LLM_MODEL", "gpt-4o-mini")
    get_settings.cache_clear()
    human = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=human.id, category="data")
    make_agent(now, level="AUTONOMOUS", category="data", can_supervise=True)
    release, lock = threading.Event(), threading.Lock()
    calls = {"now": 0, "most": 0, "all": 0}

    def model(**_kwargs):
        with lock:
            calls["now"] += 1
            calls["all"] += 1
            calls["most"] = max(calls["most"], calls["now"])
        release.wait(30)
        with lock:
            calls["now"] -= 1
        return APPROVE

    monkeypatch.setattr(llm, "complete_json", model)
    ids = []
    for _ in range(12):
        with session_scope() as session:
            ids.append(
                governance.route_action(
                    session=session,
                    agent=intern.agent,
                    request=ActionInput(action="list_reports"),
                    now=utcnow(),
                    policy=GovernancePolicy(RULES, timedelta(hours=1), timedelta(hours=1), 3),
                ).proposal_id
            )
    for proposal_id in ids:
        autonomous_review.schedule_review(proposal_id)  # returns at once, model or not
    deadline = time.monotonic() + 10
    while calls["now"] < autonomous_review.REVIEW_WORKERS and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls["now"] == autonomous_review.REVIEW_WORKERS
    release.set()
    deadline = time.monotonic() + 20
    while calls["all"] < 2 * autonomous_review.REVIEW_WORKERS and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the pool drains: nothing more was queued
    assert calls["most"] == autonomous_review.REVIEW_WORKERS
    assert calls["all"] == 2 * autonomous_review.REVIEW_WORKERS
    assert autonomous_review.review_waiting_proposals() == 4  # the pass takes the rest
    with read_scope() as session:
        statuses = {session.get(Proposal, i).status for i in ids}
    assert statuses == {"approved"}
