"""The AI reviewer is accountable: its verdict on every proposal a human decided (real, or a
shadow review computed afterwards) is set beside the human's, per reviewer; and what it may
approve is an admin's per-category allow-list, every change audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from models import AuditEvent, Proposal, ReviewerVerdict
from services import autonomous_review, governance, proposals, review, review_allow_lists
from services import reviewer_accountability as accountability
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.errors import InvalidInput
from services.governance import ActionInput, GovernancePolicy
from services.review import ReviewPolicy
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")
GOVERNANCE = GovernancePolicy(
    presence=RULES,
    proposal_ttl=timedelta(hours=24),
    queue_ttl=timedelta(hours=24),
    queue_max_attempts=3,
)
POLICY = ReviewPolicy(model="", timeout_s=5, confidence_threshold=0.8)


@pytest.fixture
def team(now):
    human = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=human.id, category="billing")
    reviewer = make_agent(now, level="AUTONOMOUS", category="billing", can_supervise=True)
    return human, intern, reviewer


def propose(agent, now, action, parameters=None):
    with session_scope() as session:
        return governance.route_action(
            session=session,
            agent=agent.agent,
            request=ActionInput(action=action, parameters=parameters or {}),
            now=now,
            policy=GOVERNANCE,
        ).proposal_id


def decide_as_human(human, proposal_id, now, approve):
    with session_scope() as session:
        if approve:
            proposals.approve_proposal(
                session=session, proposal_id=proposal_id, caller=human, now=now
            )
        else:
            proposals.reject_proposal(
                session=session, proposal_id=proposal_id, caller=human, reason="no", now=now
            )


def shadow_review(proposal_id, now, policy=POLICY):
    with session_scope() as session:
        job = accountability.claim_shadow_review(
            session=session, proposal_id=proposal_id, now=now, default_allow=()
        )
    assert job is not None
    verdict = review.decide(job, policy)  # no session: nothing held while it thinks
    with session_scope() as session:
        return accountability.apply_shadow_review(
            session=session, job=job, review=verdict, now=now, policy=policy
        )


def test_agreement_is_computed_over_a_seeded_history(team, now):
    human, intern, reviewer = team
    history = [  # (action, human approves?) → the rules would approve only the first two
        ("list_reports", True),  # would approve, human approved: agree
        ("get_report", False),  # would approve, human rejected: the dangerous miss
        ("deleteReport", False),  # held back, human rejected: agree
        ("update_report_note", True),  # held back (not allow-listed), human approved
        ("search_customers", True),  # would approve, human approved: agree
    ]
    ids = []
    for minute, (action, approve) in enumerate(history):
        proposal_id = propose(intern, now, action)
        decide_as_human(human, proposal_id, now + timedelta(minutes=minute), approve)
        ids.append(proposal_id)
    with read_scope() as session:
        assert accountability.proposals_to_shadow(session=session, now=now) == ids
    for proposal_id in ids:
        assert shadow_review(proposal_id, now)
    with read_scope() as session:
        [score] = accountability.reviewer_scores(session=session)
        disagreements = accountability.latest_disagreements(session=session)
        assert accountability.proposals_to_shadow(session=session, now=now) == []
        statuses = [session.get(Proposal, i).status for i in ids]
    assert statuses == ["approved", "rejected", "rejected", "approved", "approved"]  # unchanged
    assert (score.reviewer_agent_id, score.reviewer) == (reviewer.agent.id, "rule-based reviewer")
    assert (score.verdicts, score.compared, score.agreed) == (5, 5, 3)
    assert score.agreement == pytest.approx(0.6)
    assert (score.approvals_rejected, score.held_back_approved, score.auto_approved) == (1, 1, 0)
    # Newest human decision first: update_report_note (minute 3), then get_report (minute 1).
    assert [(d.action, d.would_approve, d.human_decision) for d in disagreements] == [
        ("update_report_note", False, "approved"),
        ("get_report", True, "rejected"),
    ]
    assert disagreements[1].human_name and disagreements[1].shadow


def test_a_real_review_is_kept_and_compared_when_the_human_decides_later(team, now):
    human, intern, _ = team
    proposal_id = propose(intern, now, "update_report_note")
    with session_scope() as session:
        job = review.claim_review(session=session, proposal_id=proposal_id, now=now)
    verdict = review.decide(job, POLICY)
    with session_scope() as session:
        review.apply_review(session=session, job=job, review=verdict, now=now, policy=POLICY)
    decide_as_human(human, proposal_id, now, approve=True)  # the supervisor came back
    with read_scope() as session:
        assert accountability.proposals_to_shadow(session=session, now=now) == []  # no 2nd look
        [score] = accountability.reviewer_scores(session=session)
        [row] = session.exec(select(ReviewerVerdict)).all()
    assert not row.shadow and row.decision == "escalate" and row.would_approve is False
    assert (score.compared, score.held_back_approved) == (1, 1)


def test_auto_approvals_count_apart_from_human_decisions(team, now):
    _, intern, _ = team
    proposal_id = propose(intern, now, "list_reports")
    with session_scope() as session:
        job = review.claim_review(session=session, proposal_id=proposal_id, now=now)
    with session_scope() as session:
        review.apply_review(
            session=session, job=job, review=review.decide(job, POLICY), now=now, policy=POLICY
        )
    with read_scope() as session:
        [score] = accountability.reviewer_scores(session=session)
    assert (score.verdicts, score.compared, score.auto_approved) == (1, 0, 1)
    assert score.agreement is None


def test_one_shadow_review_per_proposal_and_a_dead_claim_is_taken_over(team, now):
    human, intern, _ = team
    proposal_id = propose(intern, now, "get_report")
    decide_as_human(human, proposal_id, now, approve=True)
    with session_scope() as session:
        first = accountability.claim_shadow_review(
            session=session, proposal_id=proposal_id, now=now, default_allow=()
        )
    with session_scope() as session:
        second = accountability.claim_shadow_review(
            session=session, proposal_id=proposal_id, now=now, default_allow=()
        )
    assert first is not None and second is None
    later = now + review.CLAIM_LEASE + timedelta(seconds=1)  # the first worker died
    with read_scope() as session:
        assert accountability.proposals_to_shadow(session=session, now=later) == [proposal_id]
    assert shadow_review(proposal_id, later)
    with session_scope() as session:  # the dead worker's late verdict is not recorded
        assert not accountability.apply_shadow_review(
            session=session,
            job=first,
            review=review.decide(first, POLICY),
            now=later,
            policy=POLICY,
        )


def test_the_scheduler_job_shadow_reviews_recent_human_decisions():
    now = utcnow()
    human = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=human.id, category="billing")
    make_agent(now, level="AUTONOMOUS", category="billing", can_supervise=True)
    recent = propose(intern, now, "get_report")
    decide_as_human(human, recent, now, approve=False)
    old = propose(intern, now - timedelta(days=9), "get_report")
    decide_as_human(human, old, now - timedelta(days=8), approve=False)
    assert autonomous_review.shadow_review_decided() == 1
    assert autonomous_review.shadow_review_decided() == 0
    with read_scope() as session:
        [row] = session.exec(select(ReviewerVerdict)).all()
    assert row.proposal_id == recent and row.shadow and row.would_approve


def test_an_admins_allow_list_decides_what_the_rules_may_approve(team, now):
    human, intern, _ = team
    admin = make_user(now, role="admin")
    with session_scope() as session:
        review_allow_lists.set_allow_list(
            session=session,
            category="billing",
            patterns=["Reports.Summary*", "  ", "reports.summary*"],
            read_only_verbs=False,
            default_patterns=(),
            actor=admin.as_actor(),
            now=now,
        )
    allowed = propose(intern, now, "reports.summaryForMonth")
    not_listed = propose(intern, now, "list_reports")  # read-only verbs are off for billing
    other = make_agent(now, level="INTERN", supervisor_id=human.id, category="ops")
    make_agent(now, level="AUTONOMOUS", category="ops", can_supervise=True)
    default = propose(other, now, "list_reports")  # ops keeps the default
    results = {}
    for proposal_id in (allowed, not_listed, default):
        with session_scope() as session:
            job = review.claim_review(session=session, proposal_id=proposal_id, now=now)
        results[proposal_id] = review.decide(job, POLICY)
    assert results[allowed].decision == "approve"
    assert results[not_listed].decision == "escalate"
    assert (
        "not on the allow-list of category 'billing' (reports.summary*)"
        in (results[not_listed].reasons[0])
    )
    assert results[default].decision == "approve"
    with read_scope() as session:
        [event] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "review_allow_list.updated")
        ).all()
        lists = review_allow_lists.list_allow_lists(session=session, default_patterns=())
    assert event.object_id == "billing" and event.actor_id == admin.id
    assert event.before == {"patterns": [], "read_only_verbs": True, "configured": False}
    assert event.after == {
        "patterns": ["reports.summary*"],
        "read_only_verbs": False,
        "configured": True,
    }
    assert [(a.category, a.configured) for a in lists] == [("billing", True), ("ops", False)]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("*", "would match almost any action"),
        ("?*", "would match almost any action"),
        ("*a*e*", "would match almost any action"),
        ("li*", "would match almost any action"),
        ("[a-z]*", "may use only"),
        ("list_*; rm -rf", "may use only"),
        ("x" * 121, "longer than 120"),
    ],
)
def test_an_allow_list_refuses_patterns_that_name_nothing(now, pattern, message):
    admin = make_user(now, role="admin")
    with session_scope() as session, pytest.raises(InvalidInput) as refused:
        review_allow_lists.set_allow_list(
            session=session,
            category="billing",
            patterns=[pattern],
            read_only_verbs=True,
            default_patterns=(),
            actor=admin.as_actor(),
            now=now,
        )
    assert refused.value.field == "patterns" and message in refused.value.message
