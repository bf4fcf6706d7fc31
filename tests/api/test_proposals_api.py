import threading

import pytest

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
