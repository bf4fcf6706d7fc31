"""Escalation chains with a moved clock: who is asked first, skipped steps, hops on deadline or
when the asked people leave, delegates while away, on-call hours, and the chain's end (reject,
or keep waiting) — never an approval by timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from models import AuditEvent, Notification, Proposal
from models.escalation import OnCallShift
from services import escalation, escalation_chains, governance, on_call, proposals
from services.db import read_scope, session_scope
from services.errors import InvalidInput, NotFound
from services.escalation import EscalationPolicy
from services.governance import ActionInput, GovernancePolicy
from services.presence import set_override
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import appear_online, make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")
GOVERNANCE = GovernancePolicy(
    presence=RULES,
    proposal_ttl=timedelta(hours=24),
    queue_ttl=timedelta(hours=24),
    queue_max_attempts=3,
)
POLICY = EscalationPolicy(presence=RULES)


def propose(agent, now, action="list_reports", parameters=None):
    with session_scope() as session:
        decision = governance.route_action(
            session=session,
            agent=agent.agent,
            request=ActionInput(action=action, parameters=parameters or {}, reason="needed"),
            now=now,
            policy=GOVERNANCE,
        )
    assert decision.decision == "proposed"
    return decision.proposal_id


def read(proposal_id) -> Proposal:
    with read_scope() as session:
        return session.get(Proposal, proposal_id)


def online(user, now):
    with session_scope() as session:
        appear_online(session, user.id, now)


def offline(user, now):
    with session_scope() as session:
        set_override(session=session, user_id=user.id, state="offline", now=now, rules=RULES)


def escalation_pass(now):
    """What the scheduler's pass does, with a moved clock."""
    moved = []
    with read_scope() as session:
        due = escalation.due_moves(session=session, now=now, rules=RULES)
    for proposal_id, kind, cause in due:
        with session_scope() as session:
            move = escalation.move_on(
                session=session,
                proposal_id=proposal_id,
                now=now,
                policy=POLICY,
                cause=cause,
                expected_kind=kind,
            )
        if move:
            moved.append(move)
    return moved


def set_chain(admin, now, scope, steps, final="reject", minutes=None):
    with session_scope() as session:
        return escalation_chains.set_chain(
            session=session,
            caller=admin,
            scope=scope,
            steps=steps,
            final=final,
            step_minutes=minutes or {},
            now=now,
        )


def delegate(user, to, starts, ends, now):
    with session_scope() as session:
        return on_call.name_delegate(
            session=session,
            caller=user,
            user_id=user.id,
            delegate_id=to.id,
            starts_at=starts,
            ends_at=ends,
            now=now,
        )


def on_call_shift(
    admin, user, now, category="ops", weekdays=None, start="00:00", end="24:00", tz="UTC"
):
    with session_scope() as session:
        return on_call.add_shift(
            session=session,
            caller=admin,
            category=category,
            user_id=user.id,
            weekdays=list(range(7)) if weekdays is None else weekdays,
            start=start,
            end=end,
            timezone=tz,
            now=now,
        )


@pytest.fixture
def team(now):
    admin = make_user(now, role="admin")
    sam = make_user(now)
    riley = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=sam.id, category="ops")
    return admin, sam, riley, intern


def test_the_supervisor_is_asked_first_for_as_long_as_the_risk_allows(team, now):
    _, sam, _, intern = team
    online(sam, now)
    safe = read(propose(intern, now, "list_reports"))
    risky = read(propose(intern, now, "delete_customer_records", {"table": "customers"}))
    assert safe.step_kind == "supervisor" and risky.step_kind == "supervisor"
    assert safe.step_deadline == now + timedelta(minutes=60)
    assert risky.step_deadline == now + timedelta(minutes=5)
    assert safe.hops[0]["to"] == [sam.display_name] and safe.hops[0]["skipped"] == []
    assert escalation_pass(now + timedelta(minutes=4)) == []  # Sam is there, time is left


def test_on_deadline_it_hops_to_the_delegate_who_may_then_decide(team, now):
    admin, sam, riley, intern = team
    online(sam, now)
    online(riley, now)
    delegate(sam, riley, now - timedelta(hours=1), now + timedelta(days=2), now)
    proposal_id = propose(intern, now, "delete_customer_records")
    with session_scope() as session, pytest.raises(NotFound):  # not asked yet
        proposals.get_proposal(session=session, proposal_id=proposal_id, caller=riley, now=now)

    [move] = escalation_pass(now + timedelta(minutes=5))
    assert move.kind == "delegate" and move.names == (riley.display_name,)
    assert read(proposal_id).step_deadline == now + timedelta(minutes=10)
    with session_scope() as session:
        decided = proposals.reject_proposal(
            session=session, proposal_id=proposal_id, caller=riley, reason="not today", now=now
        )
    assert decided.status == "rejected"
    with read_scope() as session:
        hops = session.exec(
            select(AuditEvent).where(AuditEvent.action == "proposal.escalated")
        ).all()
    assert [h.after["step"] for h in hops] == ["delegate"]
    assert hops[0].after["cause"] == "nobody decided in time"


def test_steps_nobody_can_take_are_skipped_at_once_and_said(team, now):
    admin, sam, riley, intern = team
    offline(sam, now)
    online(riley, now)
    on_call_shift(admin, riley, now)
    proposal = read(propose(intern, now, "send_invoice"))
    assert proposal.step_kind == "on_call"
    assert proposal.hops[0]["skipped"] == [
        f"the agent's supervisor: {sam.display_name}: not available",
        "their delegate: no delegate named for now",
    ]
    with session_scope() as session:  # the on-call person sees and may decide it
        assert proposals.get_proposal(
            session=session, proposal_id=proposal.id, caller=riley, now=now
        )
    with read_scope() as session:
        shown = proposals.list_proposals(session=session, supervisor_id=riley.id, now=now)
    assert [p.id for p in shown] == [proposal.id]


def test_a_delegate_counts_only_between_their_dates(team, now):
    _, sam, riley, intern = team
    offline(sam, now)
    online(riley, now)
    delegate(sam, riley, now + timedelta(days=1), now + timedelta(days=3), now)
    assert read(propose(intern, now)).step_kind != "delegate"  # not yet
    with session_scope() as session:
        online_later = now + timedelta(days=1, minutes=1)
        appear_online(session, riley.id, online_later)
    assert read(propose(intern, now + timedelta(days=1, minutes=1))).step_kind == "delegate"


def test_on_call_hours_follow_weekdays_time_zone_and_midnight(team, now):
    # NOW is Wednesday 2026-11-25 12:00 UTC = 13:00 in Paris.
    def covers(weekdays, start, end, tz, at=now):
        shift = OnCallShift(
            category="ops",
            user_id=1,
            weekdays=weekdays,
            start_minute=start * 60,
            end_minute=end * 60,
            timezone=tz,
            created_at=at,
        )
        return on_call.shift_covers(shift, at)

    assert covers([2], 9, 17, "UTC")
    assert not covers([3], 9, 17, "UTC")  # Thursday only
    assert covers([2], 13, 14, "Europe/Paris") and not covers([2], 12, 13, "Europe/Paris")
    night = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # Thursday 03:00, the night after Wednesday
    assert covers([2], 22, 6, "UTC", night)  # Wednesday's night shift runs into Thursday
    assert not covers([3], 22, 6, "UTC", night)  # Thursday's starts at 22:00


def test_on_call_outside_their_hours_is_not_asked(team, now):
    admin, sam, riley, intern = team
    offline(sam, now)
    online(riley, now)
    on_call_shift(admin, riley, now, weekdays=[3])  # Thursdays; today is Wednesday
    set_chain(admin, now, "category:ops", ["supervisor", "on_call"], final="reject")
    proposal = read(propose(intern, now))
    assert proposal.status == "rejected"
    # The agent is told no one's name or presence; the page and the audit say who was skipped.
    assert proposal.decision_reason == "nobody in the escalation chain can decide it now"
    assert "the on-call supervisors: nobody on call for 'ops' now" in proposal.hops[-1]["skipped"]


def test_the_chain_ends_rejected_and_the_agent_is_told(
    team, now, callback_receivers_on_this_machine
):
    admin, sam, _, _ = team
    intern = make_agent(
        now, level="INTERN", supervisor_id=sam.id, callback_url="http://127.0.0.1:9/hook"
    )
    online(sam, now)
    set_chain(admin, now, "default", ["supervisor"], final="reject", minutes={"safe": 30})
    proposal_id = propose(intern, now)
    assert read(proposal_id).step_deadline == now + timedelta(minutes=30)
    escalation_pass(now + timedelta(minutes=30))
    ended = read(proposal_id)
    assert ended.status == "rejected" and ended.decided_by_user_id is None
    assert ended.decision_reason == "nobody in the escalation chain decided in time"
    with read_scope() as session:
        told = [n.event for n in session.exec(select(Notification)).all()]
    assert told == ["proposal.rejected"]


def test_keep_waiting_asks_everyone_named_and_never_approves(team, now):
    admin, sam, riley, intern = team
    online(sam, now)
    delegate(sam, riley, now, now + timedelta(days=2), now)
    set_chain(admin, now, f"agent:{intern.agent.id}", ["supervisor", "delegate"], final="wait")
    proposal_id = propose(intern, now)
    offline(riley, now)
    escalation_pass(now + timedelta(hours=1))  # Sam's hour passed; Riley is away: skipped
    waiting = read(proposal_id)
    assert waiting.step_kind == "waiting" and waiting.status == "pending"
    assert waiting.hops[-1]["user_ids"] == [sam.id, riley.id]
    for minutes in (61, 600, 1200):
        assert escalation_pass(now + timedelta(minutes=minutes)) == []
    assert read(proposal_id).status == "pending"  # nothing runs by timeout
    with session_scope() as session:
        expired = proposals.expire_proposals(session=session, now=now + timedelta(hours=24))
    assert [p.id for p in expired] == [proposal_id]


def test_an_empty_chair_is_left_at_once(team, now):
    _, sam, riley, intern = team
    online(sam, now)
    online(riley, now)
    delegate(sam, riley, now, now + timedelta(days=1), now)
    proposal_id = propose(intern, now)
    assert escalation_pass(now + timedelta(minutes=1)) == []
    offline(sam, now + timedelta(minutes=2))
    [move] = escalation_pass(now + timedelta(minutes=2))
    assert move.kind == "delegate"
    assert read(proposal_id).hops[-1]["cause"] == "nobody at this step is available any more"


def test_an_agents_own_chain_wins_over_its_categorys(team, now):
    admin, sam, riley, intern = team
    online(sam, now)
    set_chain(admin, now, "category:ops", ["supervisor"], minutes={"safe": 10})
    set_chain(admin, now, f"agent:{intern.agent.id}", ["supervisor"], minutes={"safe": 20})
    assert read(propose(intern, now)).step_deadline == now + timedelta(minutes=20)
    other = make_agent(now, level="INTERN", supervisor_id=sam.id, category="ops")
    assert read(propose(other, now)).step_deadline == now + timedelta(minutes=10)


def test_a_chain_in_progress_keeps_the_chain_it_started_with(team, now):
    admin, sam, riley, intern = team
    online(sam, now)
    online(riley, now)
    on_call_shift(admin, riley, now)
    proposal_id = propose(intern, now)
    set_chain(admin, now, "default", ["supervisor"], final="reject")
    online(riley, now + timedelta(minutes=59))
    escalation_pass(now + timedelta(hours=1))
    assert read(proposal_id).step_kind == "on_call"  # the built-in chain it started with


def test_chains_that_cannot_work_are_refused(team, now):
    admin, sam, _, intern = team
    for steps, final, minutes, field in (
        (["boss"], "reject", {}, "steps"),
        (["supervisor", "supervisor"], "reject", {}, "steps"),
        ([], "wait", {}, "steps"),
        (["supervisor"], "approve", {}, "final"),
        (["supervisor"], "reject", {"high": 0}, "step_minutes"),
        (["supervisor"], "reject", {"urgent": 5}, "step_minutes"),
    ):
        with session_scope() as session, pytest.raises(InvalidInput) as error:
            escalation_chains.set_chain(
                session=session,
                caller=admin,
                scope="default",
                steps=steps,
                final=final,
                step_minutes=minutes,
                now=now,
            )
        assert error.value.field == field
    with session_scope() as session, pytest.raises(InvalidInput):
        escalation_chains.set_chain(
            session=session,
            caller=admin,
            scope="agent:99999",
            steps=["supervisor"],
            final="reject",
            step_minutes={},
            now=now,
        )
    viewer = make_user(now, "viewer")
    with session_scope() as session, pytest.raises(InvalidInput) as error:
        on_call.name_delegate(
            session=session,
            caller=sam,
            user_id=sam.id,
            delegate_id=viewer.id,
            starts_at=now,
            ends_at=now + timedelta(days=1),
            now=now,
        )
    assert error.value.field == "delegate_id"


def test_progress_says_who_has_it_until_when_and_what_comes_next(team, now):
    admin, sam, _, intern = team
    online(sam, now)
    proposal = read(propose(intern, now, "delete_customer_records"))
    shown = escalation.progress(
        chain=proposal.chain, step_kind=proposal.step_kind, hops=proposal.hops
    )
    assert shown.now_with == sam.display_name
    assert shown.until == now + timedelta(minutes=5)
    assert shown.sentence("12:05 UTC") == (
        f"With {sam.display_name} until 12:05 UTC, then their delegate, the on-call "
        "supervisors and the AI reviewer; if nobody decides: kept waiting for anyone asked."
    )


def test_the_ai_reviewer_approves_within_its_allow_list_and_otherwise_the_chain_goes_on(team, now):
    from services import autonomous_review
    from services.clock import utcnow

    admin, sam, _, _ = team
    intern = make_agent(now, level="INTERN", supervisor_id=sam.id, category="data")
    make_agent(now, level="AUTONOMOUS", category="data", can_supervise=True)
    set_chain(admin, now, "category:data", ["supervisor", "reviewer"], final="reject")
    real_now = utcnow()  # the review runs on the real clock
    offline(sam, real_now)
    harmless = read(propose(intern, real_now, "list_reports"))
    risky = read(propose(intern, real_now, "delete_customer_records"))
    assert harmless.step_kind == risky.step_kind == "reviewer"
    assert harmless.hops[0]["to"][0].startswith("agent-")  # the reviewer, by name

    autonomous_review.review_if_unattended(harmless.id)
    autonomous_review.review_if_unattended(risky.id)
    assert read(harmless.id).status == "approved" and read(harmless.id).decided_by_agent_id
    ended = read(risky.id)
    assert ended.status == "rejected" and ended.decided_by_agent_id is None
    assert ended.hops[-1]["cause"] == "the AI reviewer did not approve"


def test_the_reviewer_looks_only_when_the_chain_reaches_it(team, now):
    from services import autonomous_review
    from services.clock import utcnow

    _, sam, _, _ = team
    intern = make_agent(now, level="INTERN", supervisor_id=sam.id, category="data")
    make_agent(now, level="AUTONOMOUS", category="data", can_supervise=True)
    online(sam, utcnow())
    proposal_id = propose(intern, utcnow(), "list_reports")
    assert autonomous_review.review_if_unattended(proposal_id) is None
    assert read(proposal_id).status == "pending" and read(proposal_id).review is None


def test_supervised_work_runs_watched_by_the_online_delegate_or_waits(team, now):
    from models import Execution, QueueEntry
    from services import dispatch

    _, sam, riley, _ = team
    worker = make_agent(now, level="SUPERVISED", supervisor_id=sam.id)
    offline(sam, now)
    delegate(sam, riley, now - timedelta(hours=1), now + timedelta(days=1), now)

    def act(at):
        with session_scope() as session:
            return governance.route_action(
                session=session,
                agent=worker.agent,
                request=ActionInput(action="reply"),
                now=at,
                policy=GOVERNANCE,
            )

    queued = act(now)  # Riley is not online either: it waits
    assert queued.decision == "queued"
    online(riley, now)
    running = act(now)
    assert running.decision == "approved_to_run" and "delegate" in running.reason
    with read_scope() as session:
        assert session.get(Execution, running.execution_id).supervisor_user_id == riley.id
    # Riley coming online starts Sam's queued work too, watched by Riley (real clock: the
    # dispatcher's); Sam's queue still holds the entry.
    from services.clock import utcnow

    online(riley, utcnow())
    with session_scope() as session:  # the delegation, on the real clock
        on_call.name_delegate(
            session=session,
            caller=sam,
            user_id=sam.id,
            delegate_id=riley.id,
            starts_at=utcnow() - timedelta(minutes=1),
            ends_at=utcnow() + timedelta(days=1),
            now=utcnow(),
        )
    with session_scope() as session:
        session.get(QueueEntry, queued.queue_entry_id).expires_at = utcnow() + timedelta(hours=1)
    [started] = dispatch.dispatch_supervisor_work(riley.id)
    with read_scope() as session:
        run = session.get(Execution, started.execution_id)
        entry = session.get(QueueEntry, queued.queue_entry_id)
    assert run.supervisor_user_id == riley.id and entry.supervisor_id == sam.id


def test_a_delegate_who_approves_watches_the_run(team, now):
    from models import Execution

    _, sam, riley, intern = team
    online(riley, now)
    delegate(sam, riley, now - timedelta(hours=1), now + timedelta(days=1), now)
    proposal_id = propose(intern, now)
    with session_scope() as session:
        approved = proposals.approve_proposal(
            session=session, proposal_id=proposal_id, caller=riley, now=now
        )
    with read_scope() as session:
        assert session.get(Execution, approved.execution_id).supervisor_user_id == riley.id


def test_a_delegates_say_ends_with_the_delegation_and_the_supervisor_keeps_the_run(team, now):
    from models.escalation import Delegation
    from services import interventions

    _, sam, riley, intern = team
    online(riley, now)
    named = delegate(sam, riley, now - timedelta(hours=1), now + timedelta(days=1), now)
    proposal_id = propose(intern, now)
    assert read(proposal_id).step_kind == "delegate"
    with read_scope() as session:
        assert proposals.list_proposals(session=session, supervisor_id=riley.id, now=now)

    later = now + timedelta(minutes=1)
    with session_scope() as session:
        on_call.end_delegation(session=session, caller=sam, delegation_id=named.id, now=later)
        assert session.get(Delegation, named.id).ends_at == later
    with session_scope() as session, pytest.raises(NotFound):
        proposals.approve_proposal(
            session=session, proposal_id=proposal_id, caller=riley, now=later
        )
    with read_scope() as session:
        assert proposals.list_proposals(session=session, supervisor_id=riley.id, now=later) == []

    # Supervised work Riley watched while standing in: Sam still sees and steers it.
    worker = make_agent(now, level="SUPERVISED", supervisor_id=sam.id)
    delegate(sam, riley, now - timedelta(hours=1), now + timedelta(days=1), now)
    with session_scope() as session:
        run = governance.route_action(
            session=session,
            agent=worker.agent,
            request=ActionInput(action="reply"),
            now=now,
            policy=GOVERNANCE,
        )
    with session_scope() as session:
        paused = interventions.intervene(
            session=session, execution_id=run.execution_id, caller=sam, kind="pause", now=now
        )
    assert paused.kind == "pause"


def test_a_proposal_the_reviewer_already_saw_skips_its_step(team, now):
    admin, sam, _, intern = team
    online(sam, now)
    set_chain(admin, now, f"agent:{intern.agent.id}", ["supervisor", "reviewer"], final="reject")
    proposal_id = propose(intern, now)
    with session_scope() as session:  # reviewed earlier (asked by a human), not approved
        session.get(Proposal, proposal_id).review_claim = "done"
    escalation_pass(now + timedelta(hours=1))
    ended = read(proposal_id)
    assert ended.status == "rejected"
    assert "the AI reviewer: it looked already and did not approve" in ended.hops[-1]["skipped"]


def test_a_chain_that_names_nobody_waits_for_the_admins(team, now):
    admin, _, _, _ = team
    orphan = make_agent(now, level="INTERN", category="nobody-here")
    proposal = read(propose(orphan, now))
    assert proposal.step_kind == "waiting" and proposal.hops[-1]["to"] == ["the admins"]
    assert admin.id in proposal.hops[-1]["user_ids"]


def test_a_delegation_ended_by_one_supervisor_hides_only_their_proposals(team, now):
    _, sam, riley, intern = team
    alex = make_user(now)
    online(riley, now)
    by_sam = delegate(sam, riley, now - timedelta(hours=1), now + timedelta(days=1), now)
    delegate(alex, riley, now - timedelta(hours=1), now + timedelta(days=1), now)
    proposal_id = propose(intern, now)
    alexs = propose(make_agent(now, level="INTERN", supervisor_id=alex.id), now)
    with read_scope() as session:
        shown = proposals.list_proposals(session=session, supervisor_id=riley.id, now=now)
    assert sorted(p.id for p in shown) == sorted([proposal_id, alexs])
    later = now + timedelta(minutes=1)
    with session_scope() as session:
        on_call.end_delegation(session=session, caller=sam, delegation_id=by_sam.id, now=later)
    with read_scope() as session:  # still Alex's delegate: not Sam's any more
        shown = proposals.list_proposals(session=session, supervisor_id=riley.id, now=later)
    assert [p.id for p in shown] == [alexs]


def test_someone_asked_again_on_call_keeps_their_say_after_the_delegation(team, now):
    admin, sam, riley, intern = team
    online(riley, now)
    named = delegate(sam, riley, now - timedelta(hours=1), now + timedelta(days=1), now)
    on_call_shift(admin, riley, now)
    proposal_id = propose(intern, now)
    assert read(proposal_id).step_kind == "delegate"
    later = now + timedelta(minutes=1)
    with session_scope() as session:
        on_call.end_delegation(session=session, caller=sam, delegation_id=named.id, now=later)
    online(riley, now + timedelta(minutes=59))
    escalation_pass(now + timedelta(minutes=60))  # the delegate step ends: on call, Riley
    assert read(proposal_id).step_kind == "on_call"
    with session_scope() as session:
        approved = proposals.approve_proposal(
            session=session, proposal_id=proposal_id, caller=riley, now=now + timedelta(minutes=61)
        )
    assert approved.status == "approved"


def test_a_review_still_under_way_when_its_step_ends_approves_nothing(team, now):
    from services import review

    admin, sam, _, _ = team
    intern = make_agent(now, level="INTERN", supervisor_id=sam.id, category="data")
    make_agent(now, level="AUTONOMOUS", category="data", can_supervise=True)
    set_chain(admin, now, "category:data", ["reviewer", "supervisor"], final="wait")
    proposal_id = propose(intern, now, "list_reports")
    assert read(proposal_id).step_kind == "reviewer"
    with session_scope() as session:
        job = review.claim_review(session=session, proposal_id=proposal_id, now=now)
    verdict = review.decide(
        job, review.ReviewPolicy(model="", timeout_s=5, confidence_threshold=0.8)
    )
    assert verdict.decision == "approve"  # it would approve…
    escalation_pass(now + timedelta(hours=1))  # …but the step ran out meanwhile
    with session_scope() as session:
        late = review.apply_review(
            session=session,
            job=job,
            review=verdict,
            now=now + timedelta(hours=1),
            policy=review.ReviewPolicy(model="", timeout_s=5, confidence_threshold=0.8),
        )
    assert not late.auto_approved and read(proposal_id).status == "pending"


def test_waiting_asks_only_people_who_can_still_decide(team, now):
    from services import users as user_service
    from services.actors import Actor

    admin, sam, _, intern = team
    with session_scope() as session:
        user_service.update_user(
            session=session, user_id=sam.id, is_active=False, now=now, actor=Actor.system()
        )
    waiting = read(propose(intern, now))
    assert waiting.step_kind == "waiting" and waiting.hops[-1]["to"] == ["the admins"]
    assert sam.id not in waiting.hops[-1]["user_ids"]
