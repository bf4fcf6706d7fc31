import json
from dataclasses import replace
from datetime import timedelta

import pytest

from models import Execution
from services import execution_events, governance, proposals, run_monitor
from services.db import read_scope, session_scope
from services.execution_events import CompletedEvent, LogEvent
from services.governance import ActionInput, GovernancePolicy
from services.run_monitor import MonitorPolicy
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")
GOVERNANCE = GovernancePolicy(
    presence=RULES,
    proposal_ttl=timedelta(hours=1),
    queue_ttl=timedelta(hours=1),
    queue_max_attempts=3,
)
POLICY = MonitorPolicy(high_risk_words=frozenset({"drop", "password"}), action="pause")


@pytest.fixture
def watched_run(now):
    human = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=human.id, category="data")
    steward = make_agent(now, level="AUTONOMOUS", category="data", can_supervise=True)
    with session_scope() as session:
        decision = governance.route_action(
            session=session,
            agent=intern.agent,
            request=ActionInput(action="report"),
            now=now,
            policy=GOVERNANCE,
        )
        proposals.approve_by_autonomous_supervisor(
            session=session,
            proposal_id=decision.proposal_id,
            supervisor=steward.agent,
            now=now,
            reason="safe",
        )
    with read_scope() as session:
        execution_id = proposals.get_proposal(
            session=session,
            proposal_id=decision.proposal_id,
            caller=make_user(now, role="admin"),
            now=now,
        ).execution_id
    return intern, steward, execution_id


def report(agent, execution_id, message, now, policy=POLICY):
    with session_scope() as session:
        return execution_events.record_events(
            session=session,
            agent=agent.agent,
            execution_id=execution_id,
            events=[LogEvent(type="log", message=message)],
            now=now,
            monitor=policy,
        )


def test_high_risk_event_pauses_the_run_and_the_agent_is_told_at_once(watched_run, now):
    intern, steward, execution_id = watched_run
    assert report(intern, execution_id, "reading rows", now).controls == []
    answer = report(intern, execution_id, "about to DROP table customers", now)
    assert [c.type for c in answer.controls] == ["pause"]
    assert "drop" in answer.controls[0].text
    with read_scope() as session:
        assert session.get(Execution, execution_id).status == "paused"


def test_terminate_policy_stops_the_run(watched_run, now):
    intern, _, execution_id = watched_run
    answer = report(
        intern,
        execution_id,
        "printing the admin password",
        now,
        replace(POLICY, action="terminate"),
    )
    assert answer.status == "terminated"


def llm_look(execution_id, now, policy):
    """Claim the new events, ask the model with no session, apply: as the scheduler's job."""
    with session_scope() as session:
        batch = run_monitor.claim_batch(session=session, execution_id=execution_id)
    if batch is None:
        return None
    verdict = run_monitor.judge_batch(batch, policy)
    with session_scope() as session:
        run_monitor.apply_verdict(session=session, batch=batch, verdict=verdict, now=now)
    return batch


def test_llm_monitor_reviews_new_events_in_one_call_and_fails_visibly(watched_run, now):
    intern, _, execution_id = watched_run
    for index in range(5):
        report(intern, execution_id, f"step {index}", now)
    high = json.dumps({"risk": "high", "action": "pause", "reasons": ["exfiltrating data"]})
    batch = llm_look(execution_id, now, replace(POLICY, model="gpt-4o-mini", mock_response=high))
    assert (batch.after_seq, batch.last_seq) == (0, 5)
    with read_scope() as session:
        assert session.get(Execution, execution_id).status == "paused"
    assert llm_look(execution_id, now, POLICY) is None  # nothing new: no second look
    report(intern, execution_id, "more", now)
    llm_look(execution_id, now, replace(POLICY, model="gpt-4o-mini", mock_response="not json"))
    with read_scope() as session:
        log = execution_events.list_events(session=session, execution_id=execution_id)
    assert "could not review" in log[-1].message


def test_two_workers_claim_a_batch_once(watched_run, now):
    intern, _, execution_id = watched_run
    report(intern, execution_id, "step", now)
    with session_scope() as session:
        first = run_monitor.claim_batch(session=session, execution_id=execution_id)
    with session_scope() as session:
        second = run_monitor.claim_batch(session=session, execution_id=execution_id)
    assert first is not None and second is None


def test_unsupervised_runs_are_not_touched(now):
    agent = make_agent(now, level="AUTONOMOUS")
    with session_scope() as session:
        decision = governance.route_action(
            session=session,
            agent=agent.agent,
            request=ActionInput(action="x"),
            now=now,
            policy=GOVERNANCE,
        )
    assert report(agent, decision.execution_id, "drop everything", now).controls == []


def test_the_batch_that_ends_the_run_is_checked_too_and_the_end_waits(watched_run, now):
    intern, _, execution_id = watched_run
    with session_scope() as session:
        answer = execution_events.record_events(
            session=session,
            agent=intern.agent,
            execution_id=execution_id,
            events=[
                LogEvent(type="log", message="now DROP table customers"),
                CompletedEvent(type="completed", result={"ok": True}),
            ],
            now=now,
            monitor=POLICY,
        )
    assert (answer.status, answer.accepted) == ("paused", 1)  # the line kept, the end refused
    assert [c.type for c in answer.controls] == ["pause"]
    with read_scope() as session:
        run = session.get(Execution, execution_id)
        log = execution_events.list_events(session=session, execution_id=execution_id)
    assert run.status == "paused" and run.result is None
    assert [e.kind for e in log] == ["log", "control"]


def test_every_field_of_an_event_is_checked(watched_run, now):
    from services.execution_events import ProgressEvent

    intern, _, execution_id = watched_run
    with session_scope() as session:
        answer = execution_events.record_events(
            session=session,
            agent=intern.agent,
            execution_id=execution_id,
            events=[ProgressEvent(type="progress", step="drop table", step_index=0, total_steps=2)],
            now=now,
            monitor=POLICY,
        )
    assert answer.status == "paused"


def test_a_line_break_or_a_nested_value_hides_nothing(watched_run, now):
    from services.run_monitor import _event_text, rule_findings

    events = [
        LogEvent(type="log", message="plan:\ndrop table customers"),
        LogEvent(type="log", level="error", message="ok", data={"steps": [{"sql": "DROP x"}]}),
    ]
    assert all("drop" in rule_findings([_event_text(e)], POLICY) for e in events)
    quiet = LogEvent(type="log", level="error", message="all good")
    assert rule_findings([_event_text(quiet)], replace(POLICY, high_risk_words={"error"})) == []


def test_the_monitors_model_is_called_with_no_transaction_open(watched_run, now, monkeypatch):
    from services import autonomous_review, llm
    from services.config import get_settings
    from tests.services.test_review_claims import assert_no_transaction_open

    intern, _, execution_id = watched_run
    report(intern, execution_id, "reading rows", now)
    monkeypatch.setenv("LLM_MODEL", "gpt-4o-mini")
    get_settings.cache_clear()
    calls = []

    def model(**_kwargs):
        assert_no_transaction_open()
        calls.append(1)
        return json.dumps({"risk": "safe", "action": "continue", "reasons": ["fine"]})

    monkeypatch.setattr(llm, "complete_json", model)
    autonomous_review.monitor_autonomous_runs()
    autonomous_review.monitor_autonomous_runs()  # nothing new: no second call
    assert calls == [1]
