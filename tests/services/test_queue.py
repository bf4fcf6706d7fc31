import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from models import Execution, QueueEntry
from services import agent_work, execution_events, governance, interventions, presence, queue
from services import agents as agent_service
from services.actors import Actor
from services.db import read_scope, session_scope
from services.errors import Conflict
from services.execution_events import CompletedEvent, FailedEvent, LogEvent
from services.executions import LivenessPolicy
from services.governance import ActionInput, GovernancePolicy
from services.queue import QueuePolicy
from services.run_liveness import end_lost_runs
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")
POLICY = QueuePolicy(presence=RULES)
LIVENESS = LivenessPolicy(stale_after=timedelta(minutes=1), lost_after=timedelta(minutes=5))
GOVERNANCE = GovernancePolicy(
    presence=RULES,
    proposal_ttl=timedelta(hours=24),
    queue_ttl=timedelta(hours=24),
    queue_max_attempts=3,
)


def enqueue(agent, now, priority=0, action="reply"):
    with session_scope() as session:
        decision = governance.route_action(
            session=session,
            agent=agent.agent,
            request=ActionInput(action=action, priority=priority),
            now=now,
            policy=GOVERNANCE,
        )
    assert decision.decision == "queued"
    return decision.queue_entry_id


def online(user_id, now):
    with session_scope() as session:
        token, _ = presence.open_tab(session=session, user_id=user_id, now=now)
        presence.write_activity(
            session=session, user_id=user_id, tab_token=token, now=now, rules=RULES
        )


def dispatch(user_id, now):
    with session_scope() as session:
        return queue.dispatch_for_supervisor(
            session=session, supervisor_id=user_id, now=now, policy=POLICY
        )


def entry(entry_id):
    with read_scope() as session:
        return session.get(QueueEntry, entry_id)


def report(agent, execution_id, events, now):
    with session_scope() as session:
        return execution_events.record_events(
            session=session, agent=agent.agent, execution_id=execution_id, events=events, now=now
        )


@pytest.fixture
def setup(now):
    supervisor = make_user(now)
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    return supervisor, agent


def test_nothing_dispatches_while_supervisor_is_offline(setup, now):
    supervisor, agent = setup
    enqueue(agent, now)
    assert dispatch(supervisor.id, now) == []


def test_dispatch_order_is_priority_then_oldest(setup, now):
    supervisor, agent = setup
    low = enqueue(agent, now, priority=0)
    high = enqueue(agent, now + timedelta(seconds=1), priority=9)
    older_low = low
    newer_low = enqueue(agent, now + timedelta(seconds=2), priority=0)
    online(supervisor.id, now + timedelta(seconds=3))
    order = [d.entry_id for d in dispatch(supervisor.id, now + timedelta(seconds=3))]
    assert order == [high, older_low, newer_low]


def test_racing_dispatchers_never_run_an_entry_twice(setup, now):
    supervisor, agent = setup
    ids = [enqueue(agent, now) for _ in range(5)]
    online(supervisor.id, now)
    results = []

    def worker():
        results.extend(dispatch(supervisor.id, now))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(d.entry_id for d in results) == sorted(ids)
    with read_scope() as session:
        assert len(session.exec(select(Execution)).all()) == 5


def test_entry_completes_only_when_the_agents_run_does(setup, now):
    supervisor, agent = setup
    entry_id = enqueue(agent, now)
    online(supervisor.id, now)
    [dispatched] = dispatch(supervisor.id, now)
    assert entry(entry_id).status == "executing"
    report(agent, dispatched.execution_id, [LogEvent(type="log", message="hi")], now)
    assert entry(entry_id).status == "executing"
    report(agent, dispatched.execution_id, [CompletedEvent(type="completed", result=1)], now)
    assert entry(entry_id).status == "completed"


def test_failed_runs_retry_with_backoff_then_fail_after_last_attempt(setup, now):
    supervisor, agent = setup
    entry_id = enqueue(agent, now)
    online(supervisor.id, now)
    clock = now
    for attempt in range(1, 4):
        online(supervisor.id, clock)
        [dispatched] = dispatch(supervisor.id, clock)
        report(
            agent,
            dispatched.execution_id,
            [FailedEvent(type="failed", error=f"boom {attempt}")],
            clock,
        )
        current = entry(entry_id)
        assert current.attempts == attempt
        if attempt < 3:
            assert current.status == "pending"
            assert dispatch(supervisor.id, clock) == []  # backing off
            clock = current.not_before
    assert entry(entry_id).status == "failed"
    assert entry(entry_id).last_error == "boom 3"


def lose_silent_runs(now):
    with session_scope() as session:
        return end_lost_runs(session=session, now=now, policy=LIVENESS)


def offer(agent, now):
    with session_scope() as session:
        return agent_work.offer_work(session=session, agent_id=agent.agent.id, now=now, limit=20)


def test_work_offered_but_never_picked_up_goes_back_to_pending_counting_an_attempt(setup, now):
    supervisor, agent = setup
    entry_id = enqueue(agent, now)
    online(supervisor.id, now)
    [first] = dispatch(supervisor.id, now)
    offered_at = now + timedelta(minutes=1)
    assert [item.execution.id for item in offer(agent, offered_at)] == [first.execution_id]
    assert lose_silent_runs(now + timedelta(minutes=5, seconds=30)) == []  # clock from the offer
    later = offered_at + timedelta(minutes=5, seconds=1)
    assert lose_silent_runs(later) == [first.execution_id]
    assert entry(entry_id).status == "pending"
    assert entry(entry_id).attempts == 1
    refused = report(agent, first.execution_id, [CompletedEvent(type="completed")], later)
    assert (refused.accepted, refused.status) == (0, "lost")  # a late report changes nothing
    assert [c.type for c in refused.controls] == ["terminate"]
    assert entry(entry_id).status == "pending"


def test_work_of_an_agent_that_never_asked_waits_again_without_spending_an_attempt(setup, now):
    supervisor, agent = setup
    entry_id = enqueue(agent, now)
    online(supervisor.id, now)
    [first] = dispatch(supervisor.id, now)
    assert lose_silent_runs(now + timedelta(minutes=5, seconds=1)) == [first.execution_id]
    released = entry(entry_id)
    assert (released.status, released.attempts) == ("pending", 0)


def test_a_backlog_stays_alive_while_its_agent_keeps_asking_for_work(setup, now):
    supervisor, agent = setup
    for index in range(30):
        enqueue(agent, now, action=f"job{index}")
    online(supervisor.id, now)
    dispatched = dispatch(supervisor.id, now)
    assert len(dispatched) == 30
    clock = now
    for _ in range(3):  # the agent takes 4 minutes per 20 runs: longer than the lost threshold
        clock += timedelta(minutes=4)
        offered = offer(agent, clock)
        for item in offered:
            report(agent, item.execution.id, [CompletedEvent(type="completed")], clock)
        assert lose_silent_runs(clock) == []
    with read_scope() as session:
        statuses = session.exec(select(QueueEntry.status)).all()
    assert statuses == ["completed"] * 30


def test_work_lost_after_the_agent_started_is_failed_not_run_again(setup, now):
    supervisor, agent = setup
    entry_id = enqueue(agent, now)
    online(supervisor.id, now)
    [run] = dispatch(supervisor.id, now)
    report(agent, run.execution_id, [LogEvent(type="log", message="charging the card")], now)
    later = now + timedelta(minutes=5, seconds=1)
    assert lose_silent_runs(later) == [run.execution_id]
    lost = entry(entry_id)
    assert lost.status == "failed" and lost.attempts == 1
    assert "not run again" in lost.last_error
    online(supervisor.id, later)
    assert dispatch(supervisor.id, later) == []


def test_a_paused_run_whose_agent_keeps_polling_lives_past_three_lost_windows(setup, now):
    supervisor, agent = setup
    entry_id = enqueue(agent, now)
    online(supervisor.id, now)
    [run] = dispatch(supervisor.id, now)
    report(agent, run.execution_id, [LogEvent(type="log", message="step 1")], now)
    with session_scope() as session:
        interventions.intervene(
            session=session, execution_id=run.execution_id, caller=supervisor, kind="pause", now=now
        )
    clock = now
    for _ in range(15 * 3):  # 15 minutes, a poll every minute
        clock += timedelta(minutes=1)
        with session_scope() as session:
            state = execution_events.poll_controls(
                session=session, agent=agent.agent, execution_id=run.execution_id, now=clock, ack=[]
            )
        assert state.paused
        assert lose_silent_runs(clock) == []
    online(supervisor.id, clock)
    with session_scope() as session:
        interventions.intervene(
            session=session,
            execution_id=run.execution_id,
            caller=supervisor,
            kind="resume",
            now=clock,
        )
    report(agent, run.execution_id, [CompletedEvent(type="completed")], clock)
    assert entry(entry_id).status == "completed"
    with read_scope() as session:
        runs = session.exec(select(Execution).where(Execution.queue_entry_id == entry_id)).all()
    assert [r.status for r in runs] == ["completed"]  # one execution, never dispatched twice


def test_pending_entries_expire(setup, now):
    supervisor, agent = setup
    entry_id = enqueue(agent, now)
    with session_scope() as session:
        assert queue.mark_expired(session=session, now=now + timedelta(hours=23)) == []
    with session_scope() as session:
        assert [
            e.id for e in queue.mark_expired(session=session, now=now + timedelta(hours=24))
        ] == [entry_id]
    assert entry(entry_id).status == "expired"


def test_cancel_only_pending_and_only_own(setup, now):
    supervisor, agent = setup
    stranger = make_user(now)
    entry_id = enqueue(agent, now)
    from services.errors import NotFound

    with session_scope() as session, pytest.raises(NotFound):
        queue.cancel_entry(session=session, entry_id=entry_id, caller=stranger, now=now)
    with session_scope() as session:
        assert (
            queue.cancel_entry(
                session=session, entry_id=entry_id, caller=supervisor, now=now
            ).status
            == "cancelled"
        )
    with session_scope() as session, pytest.raises(Conflict):
        queue.cancel_entry(session=session, entry_id=entry_id, caller=supervisor, now=now)


def test_stats_count_by_status(setup, now):
    supervisor, agent = setup
    enqueue(agent, now)
    enqueue(agent, now)
    with read_scope() as session:
        stats = queue.queue_stats(
            session=session, supervisor_id=supervisor.id, now=now + timedelta(minutes=1)
        )
    assert stats.counts["pending"] == 2
    assert stats.oldest_pending_age_s == 60


def test_a_pause_before_pickup_holds_the_work_for_its_agent(setup, now):
    supervisor, agent = setup
    enqueue(agent, now)
    online(supervisor.id, now)
    [run] = dispatch(supervisor.id, now)
    with session_scope() as session:
        interventions.intervene(
            session=session, execution_id=run.execution_id, caller=supervisor, kind="pause", now=now
        )
    [offered] = offer(agent, now + timedelta(minutes=1))  # the agent still sees it, paused
    assert (offered.execution.id, offered.execution.status) == (run.execution_id, "paused")


def test_work_paused_when_it_failed_or_was_lost_is_not_run_again_behind_the_supervisor(setup, now):
    supervisor, agent = setup
    failed_id, lost_id = enqueue(agent, now, action="a"), enqueue(agent, now, action="b")
    online(supervisor.id, now)
    failing, silent = dispatch(supervisor.id, now)
    for run in (failing, silent):
        with session_scope() as session:
            interventions.intervene(
                session=session,
                execution_id=run.execution_id,
                caller=supervisor,
                kind="pause",
                now=now,
            )
    report(agent, failing.execution_id, [FailedEvent(type="failed", error="gave up")], now)
    assert lose_silent_runs(now + timedelta(minutes=6)) == [silent.execution_id]
    for entry_id in (failed_id, lost_id):
        held = entry(entry_id)
        assert held.status == "failed" and "paused by a supervisor" in held.last_error


def test_work_retried_after_the_agent_changed_hands_waits_for_the_new_supervisor(setup, now):
    supervisor, agent = setup
    successor = make_user(now)
    entry_id = enqueue(agent, now)
    online(supervisor.id, now)
    [run] = dispatch(supervisor.id, now)
    with session_scope() as session:
        agent_service.update_agent(
            session=session,
            agent_id=agent.agent.id,
            supervisor_id=successor.id,
            now=now,
            actor=Actor.system("tests"),
        )
    report(agent, run.execution_id, [FailedEvent(type="failed", error="flaky network")], now)
    retried = entry(entry_id)
    assert (retried.status, retried.supervisor_id) == ("pending", successor.id)
