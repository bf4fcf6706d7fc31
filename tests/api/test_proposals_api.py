import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from models import AuditEvent
from services import queue
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.policy import queue_policy
from supervision_app.client import NotApproved, SupervisionClient
from tests.api.conftest import sign_in
from tests.api.test_governance_api import go_online
from tests.factories import make_agent, make_user


def setup(client, now):
    human = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=human.id)
    bot = SupervisionClient("http://testserver", intern.api_key, http=client)
    return human, intern, bot, sign_in(client, human.username)


def test_approval_reaches_the_agent_and_a_second_decision_is_409(client, now):
    human, intern, bot, headers = setup(client, now)
    decision = bot.act("export", {"rows": 100}, reason="monthly export")
    listed = client.get("/api/supervision/proposals?status=pending", headers=headers).json()
    assert [p["id"] for p in listed] == [decision.proposal_id]
    approved = client.post(
        f"/api/supervision/proposals/{decision.proposal_id}/approve",
        json={"parameters": {"rows": 10}},
        headers=headers,
    )
    assert approved.status_code == 200, approved.text
    run = bot.wait_for_decision(decision, timeout=1, poll=0.1)
    assert bot.execution(run.execution_id)["parameters"] == {"rows": 10}
    assert [w.execution_id for w in bot.work()] == [run.execution_id]
    again = client.post(
        f"/api/supervision/proposals/{decision.proposal_id}/reject",
        json={"reason": "no"},
        headers=headers,
    )
    assert again.status_code == 409


def test_racing_decisions_have_exactly_one_winner(client, now):
    human, intern, bot, headers = setup(client, now)
    decision = bot.act("export")
    statuses = []

    def decide(kind: str) -> None:
        body = {"reason": "no"} if kind == "reject" else {}
        statuses.append(
            client.post(
                f"/api/supervision/proposals/{decision.proposal_id}/{kind}",
                json=body,
                headers=headers,
            ).status_code
        )

    threads = [threading.Thread(target=decide, args=(k,)) for k in ("approve", "reject") * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409, 409, 409, 409, 409]


def test_rejection_tells_the_agent_why(client, now):
    human, intern, bot, headers = setup(client, now)
    decision = bot.act("export")
    missing = client.post(
        f"/api/supervision/proposals/{decision.proposal_id}/reject", json={}, headers=headers
    )
    assert missing.status_code == 422 and missing.json()["field"] == "reason"
    client.post(
        f"/api/supervision/proposals/{decision.proposal_id}/reject",
        json={"reason": "too large"},
        headers=headers,
    )
    with pytest.raises(NotApproved, match="too large"):
        bot.wait_for_decision(decision, timeout=1, poll=0.1)


def test_agents_cannot_decide_proposals_and_others_cannot_see_them(client, now):
    human, intern, bot, headers = setup(client, now)
    decision = bot.act("export")
    as_agent = client.post(
        f"/api/supervision/proposals/{decision.proposal_id}/approve",
        json={},
        headers={"Authorization": f"Bearer {intern.api_key}"},
    )
    assert as_agent.status_code == 403
    stranger = make_user(now)
    hidden = client.get(
        f"/api/supervision/proposals/{decision.proposal_id}",
        headers=sign_in(client, stranger.username),
    )
    assert hidden.status_code == 404


def test_autonomous_review_on_demand_uses_the_labelled_rule_reviewer(client, now):
    human, intern, bot, headers = setup(client, now)
    go_online(client, human)  # a human is there, so no automatic fallback review
    make_agent(now, level="AUTONOMOUS", can_supervise=True, specialties=["reports"])
    decision = bot.act("delete_reports")
    assert (
        client.get(f"/api/supervision/proposals/{decision.proposal_id}", headers=headers).json()[
            "review"
        ]
        is None
    )
    result = client.post(
        f"/api/supervision/proposals/{decision.proposal_id}/autonomous-approve", headers=headers
    ).json()
    assert result["review"]["reviewer"] == "rule-based reviewer"
    assert result["review"]["risk"] == "high"
    assert result["proposal"]["status"] == "pending"


def test_unattended_safe_proposal_is_approved_by_the_autonomous_supervisor(client, now):
    human, intern, bot, headers = setup(client, now)
    steward = make_agent(now, level="AUTONOMOUS", can_supervise=True, specialties=["reports"])
    decision = bot.act("list_reports")
    run = bot.wait_for_decision(decision, timeout=2, poll=0.1)
    state = bot.execution(run.execution_id)
    assert state["supervision"] == "autonomous"
    assert state["supervisor_agent_id"] == steward.agent.id


def test_an_agent_withdraws_a_proposal_nobody_decided(client, now):
    human, intern, bot, headers = setup(client, now)
    decision = bot.act("export", {"rows": 100})
    bot.withdraw(decision, "the user closed the chat")
    status = client.get(
        f"/api/v1/proposals/{decision.proposal_id}",
        headers={"Authorization": f"Bearer {intern.api_key}"},
    ).json()
    assert status["status"] == "withdrawn"
    assert status["reason"] == "withdrawn by the agent: the user closed the chat"
    pending = client.get("/api/supervision/proposals?status=pending", headers=headers).json()
    assert pending == []  # gone from the inbox
    approve = client.post(
        f"/api/supervision/proposals/{decision.proposal_id}/approve", json={}, headers=headers
    )
    assert approve.status_code == 409  # nobody can approve it any more
    with pytest.raises(NotApproved) as ended:
        bot.wait_for_decision(decision, timeout=1, poll=0.1)
    assert ended.value.status == "withdrawn"
    with read_scope() as session:
        audit = session.exec(
            select(AuditEvent).where(AuditEvent.action == "proposal.withdrawn")
        ).one()
    assert (audit.actor_type, audit.actor_id) == ("agent", intern.agent.id)


def test_a_withdrawal_after_the_approval_ends_the_run_nobody_will_start(client, now):
    human, intern, bot, headers = setup(client, now)
    decision = bot.act("export")
    client.post(
        f"/api/supervision/proposals/{decision.proposal_id}/approve", json={}, headers=headers
    )
    answer = bot.withdraw(decision, "gave up waiting")
    assert answer["status"] == "approved"  # the decision came first and stands
    run = bot.execution(answer["execution_id"])
    assert run["status"] == "failed"  # …but nothing will start its run: ended, not left ready
    assert run["error"] == "withdrawn by the agent before it started: gave up waiting"
    assert bot.work() == []  # nothing is handed out to run


def test_a_withdrawal_leaves_a_run_the_agent_already_took_to_its_worker(client, now):
    human, intern, bot, headers = setup(client, now)
    decision = bot.act("export")
    client.post(
        f"/api/supervision/proposals/{decision.proposal_id}/approve", json={}, headers=headers
    )
    [taken] = bot.work()  # another worker of the agent took the run
    bot.withdraw(decision, "this one gave up")
    assert bot.execution(taken.execution_id)["status"] == "ready"  # not hidden as failed
    taken.log("working")
    taken.complete({"ok": True})  # the worker's report is taken
    assert bot.execution(taken.execution_id)["status"] == "completed"


def test_a_withdrawal_names_a_bad_field_and_finds_only_the_agents_own(client, now):
    human, intern, bot, headers = setup(client, now)
    decision = bot.act("export")
    path = f"/api/v1/proposals/{decision.proposal_id}/withdraw"
    too_long = client.post(
        path, json={"reason": "x" * 2001}, headers={"Authorization": f"Bearer {intern.api_key}"}
    )
    assert too_long.status_code == 422 and too_long.json()["field"] == "reason"
    other = make_agent(now, level="INTERN", supervisor_id=human.id)
    theirs = client.post(path, json={}, headers={"Authorization": f"Bearer {other.api_key}"})
    assert theirs.status_code == 404
    listed = client.get("/api/supervision/proposals?status=pending", headers=headers).json()
    assert [p["id"] for p in listed] == [decision.proposal_id]  # nothing changed
    no_body = client.post(path, headers={"Authorization": f"Bearer {intern.api_key}"})
    assert no_body.status_code == 200 and no_body.json()["status"] == "withdrawn"  # reason optional
    assert no_body.json()["reason"] == "withdrawn by the agent"


def test_an_agent_withdraws_its_queued_action_before_dispatch(client, now):
    human = make_user(now)  # offline: a SUPERVISED agent's actions wait in the queue
    agent = make_agent(now, level="SUPERVISED", supervisor_id=human.id)
    bot = SupervisionClient("http://testserver", agent.api_key, http=client)
    given_up, kept = bot.act("rebuild_index"), bot.act("reply", {"ticket": 8})
    assert given_up.decision == kept.decision == "queued"
    bot.withdraw(given_up, "no longer needed")
    status = client.get(
        f"/api/v1/queue/{given_up.queue_entry_id}",
        headers={"Authorization": f"Bearer {agent.api_key}"},
    ).json()
    assert status["status"] == "cancelled"
    assert status["reason"] == "withdrawn by the agent: no longer needed"
    go_online(client, human)  # the supervisor is back: only what still waits is dispatched
    assert [run.parameters() for run in bot.work(limit=5)] == [{"ticket": 8}]


def test_a_withdrawal_after_dispatch_cancels_the_queued_action_for_good(client, now):
    human = make_user(now)  # offline: the SUPERVISED agent's action waits in the queue
    agent = make_agent(now, level="SUPERVISED", supervisor_id=human.id)
    bot = SupervisionClient("http://testserver", agent.api_key, http=client)
    decision = bot.act("rebuild_index", {"shard": 3})
    go_online(client, human)  # the supervisor is back: the entry is dispatched as a run
    answer = bot.withdraw(decision, "no longer needed")
    assert answer["status"] == "cancelled"  # final: not back in the queue
    assert bot.execution(answer["execution_id"])["status"] == "failed"
    with session_scope() as session:  # the dispatcher's next pass, well after any backoff
        queue.dispatch_for_supervisor(
            session=session,
            supervisor_id=human.id,
            now=utcnow() + timedelta(hours=1),
            policy=queue_policy(),
        )
    assert bot.work(limit=5) == []  # never handed out again


def test_a_withdrawal_leaves_a_run_the_agent_already_polled(client, now):
    human, intern, bot, headers = setup(client, now)
    decision = bot.act("export")
    client.post(
        f"/api/supervision/proposals/{decision.proposal_id}/approve", json={}, headers=headers
    )
    run = bot.run(bot.wait_for_decision(decision, timeout=1, poll=0.1).execution_id)
    run.check_in()  # a worker of the agent picked it up by polling its controls
    bot.withdraw(decision, "another worker gave up")
    assert bot.execution(run.execution_id)["status"] == "ready"  # left to the worker
