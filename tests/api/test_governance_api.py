"""One agent at each maturity level, through the full path, over HTTP with the agent client."""

from __future__ import annotations

import threading

import pytest

from services.db import read_scope
from supervision_app.client import Blocked, SupervisionClient, Terminated
from tests.api.conftest import sign_in
from tests.factories import make_agent, make_user


def agent_client(client, api_key: str) -> SupervisionClient:
    return SupervisionClient("http://testserver", api_key, http=client)


def go_online(client, user) -> dict[str, str]:
    headers = sign_in(client, user.username)
    started = client.post(f"/api/users/{user.id}/activity/sessions", json={}, headers=headers)
    assert started.status_code == 201, started.text
    beat = client.post(
        f"/api/users/{user.id}/activity/heartbeat",
        json={"session_token": started.json()["session_token"]},
        headers=headers,
    )
    assert beat.json()["state"] == "online"
    return headers


def count(table) -> int:
    from sqlmodel import func, select

    with read_scope() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def test_student_is_blocked_and_only_audited(client, now, admin_headers):
    from models import Execution, Proposal, QueueEntry

    student = make_agent(now, level="STUDENT")
    with pytest.raises(Blocked, match="STUDENT"):
        agent_client(client, student.api_key).act("delete_everything", reason="why not")
    assert count(Proposal) == count(QueueEntry) == count(Execution) == 0
    audit = client.get("/api/audit?action=action.blocked", headers=admin_headers).json()
    assert audit[0]["after"]["level"] == "STUDENT"
    assert audit[0]["after"]["action"] == "delete_everything"


def test_intern_gets_a_proposal(client, now):
    supervisor = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    decision = agent_client(client, intern.api_key).act(
        "refund", {"amount": 20}, reason="customer asked"
    )
    assert decision.decision == "proposed"
    status = client.get(
        f"/api/v1/proposals/{decision.proposal_id}",
        headers={"Authorization": f"Bearer {intern.api_key}"},
    )
    assert status.json()["status"] == "pending"


def test_supervised_runs_at_once_while_supervisor_is_online(client, now):
    supervisor = make_user(now)
    go_online(client, supervisor)
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    decision = agent_client(client, agent.api_key).act("reply", {"ticket": 7})
    assert decision.decision == "approved_to_run"
    run = agent_client(client, agent.api_key).execution(decision.execution_id)
    assert run["supervision"] == "human"
    assert run["supervisor_user_id"] == supervisor.id


def test_supervised_is_queued_while_offline_and_runs_when_supervisor_returns(client, now):
    supervisor = make_user(now)
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    bot = agent_client(client, agent.api_key)
    decision = bot.act("reply", {"ticket": 8}, priority=5)
    assert decision.decision == "queued"
    assert bot.work() == []

    headers = go_online(client, supervisor)
    work = bot.work()
    assert len(work) == 1
    run = work[0]
    run.log("working on it")
    run.complete({"ok": True})
    entry = client.get(f"/api/supervised-queue/{decision.queue_entry_id}", headers=headers).json()
    assert entry["status"] == "completed"
    assert entry["attempts"] == 1


def test_autonomous_runs_and_its_events_are_stored_in_order(client, now, admin_headers):
    agent = make_agent(now, level="AUTONOMOUS")
    bot = agent_client(client, agent.api_key)
    decision = bot.act("build_report", {"month": "2026-10"})
    assert decision.decision == "approved_to_run"
    run = bot.run(decision.execution_id)
    run.progress("collect", 0, 2, steps=["collect", "render"])
    run.log("collected 10 rows", data={"rows": 10})
    run.output("table", {"columns": ["a"], "rows": [[1]]})
    run.complete({"rows": 10})
    state = bot.execution(decision.execution_id)
    assert state["status"] == "completed"
    assert state["supervision"] == "none"
    assert state["last_seq"] == 4
    from services.execution_events import list_events

    with read_scope() as session:
        events = list_events(session=session, execution_id=decision.execution_id)
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [e.kind for e in events] == ["progress", "log", "output", "completed"]

    late = client.post(
        f"/api/v1/executions/{decision.execution_id}/events",
        json={"events": [{"type": "log", "message": "too late"}]},
        headers={"Authorization": f"Bearer {agent.api_key}"},
    )
    assert late.status_code == 409


def test_same_idempotency_key_returns_first_decision_even_when_racing(client, now):
    from models import Proposal

    intern = make_agent(now, level="INTERN")
    bot = agent_client(client, intern.api_key)
    first = bot.act("refund", {"amount": 1}, idempotency_key="once")
    again = bot.act("refund", {"amount": 1}, idempotency_key="once")
    assert again.proposal_id == first.proposal_id and again.replayed

    results = []

    def act() -> None:
        results.append(bot.act("refund", {"amount": 2}, idempotency_key="race"))

    threads = [threading.Thread(target=act) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.proposal_id for r in results}) == 1
    assert count(Proposal) == 2


def test_events_to_someone_elses_execution_are_404(client, now):
    owner = make_agent(now)
    other = make_agent(now)
    decision = agent_client(client, owner.api_key).act("job")
    response = client.post(
        f"/api/v1/executions/{decision.execution_id}/events",
        json={"events": [{"type": "log", "message": "hi"}]},
        headers={"Authorization": f"Bearer {other.api_key}"},
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parameters": {}}, "action"),
        ({"action": "x", "parameters": []}, "parameters"),
        ({"action": "x", "colour": "red"}, "colour"),
        ({"action": "x", "priority": "high"}, "priority"),
    ],
)
def test_bad_action_requests_are_422_naming_the_field(client, now, body, field):
    from models import ActionRequest

    agent = make_agent(now)
    response = client.post(
        "/api/v1/actions", json=body, headers={"Authorization": f"Bearer {agent.api_key}"}
    )
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert count(ActionRequest) == 0


def test_oversize_payload_is_refused(client, now):
    agent = make_agent(now)
    response = client.post(
        "/api/v1/actions",
        json={"action": "x", "parameters": {"blob": "x" * 300_000}},
        headers={"Authorization": f"Bearer {agent.api_key}"},
    )
    assert response.status_code == 413
    assert response.json()["field"] == "body"


def test_unknown_key_is_401_and_disabled_agent_403(client, now, admin_headers):
    assert (
        client.post(
            "/api/v1/actions", json={"action": "x"}, headers={"Authorization": "Bearer sva_nope"}
        ).status_code
        == 401
    )
    agent = make_agent(now)
    client.patch(f"/api/agents/{agent.agent.id}", json={"is_enabled": False}, headers=admin_headers)
    assert (
        client.post(
            "/api/v1/actions",
            json={"action": "x"},
            headers={"Authorization": f"Bearer {agent.api_key}"},
        ).status_code
        == 403
    )


def test_level_change_takes_effect_on_the_next_request(client, now, admin_headers):
    agent = make_agent(now, level="AUTONOMOUS")
    bot = agent_client(client, agent.api_key)
    assert bot.act("job").decision == "approved_to_run"
    client.patch(
        f"/api/agents/{agent.agent.id}", json={"maturity_level": "STUDENT"}, headers=admin_headers
    )
    with pytest.raises(Blocked):
        bot.act("job")


def test_supervisor_controls_reach_the_agent(client, now):
    supervisor = make_user(now)
    headers = go_online(client, supervisor)
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    bot = agent_client(client, agent.api_key)
    run = bot.run(bot.act("reply").execution_id)
    run.log("starting")

    def intervene(kind: str, text: str | None = None):
        response = client.post(
            f"/api/supervision/sessions/{run.execution_id}/intervene",
            json={"kind": kind, "text": text},
            headers=headers,
        )
        assert response.status_code == 200, response.text

    intervene("correction", "use the formal tone")
    run.log("step 2")
    assert run.corrections == ["use the formal tone"]

    intervene("pause")
    resumer = threading.Timer(0.3, intervene, args=("resume",))
    resumer.start()
    run.log("step 3")  # blocks while paused, returns after resume
    resumer.join()
    assert not run.paused

    intervene("terminate", "wrong customer")
    with pytest.raises(Terminated, match="wrong customer"):
        run.log("step 4")
    assert bot.execution(run.execution_id)["status"] == "terminated"


def test_only_the_supervisor_or_an_admin_may_intervene(client, now):
    supervisor = make_user(now)
    stranger = make_user(now)
    go_online(client, supervisor)
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    decision = agent_client(client, agent.api_key).act("reply")
    response = client.post(
        f"/api/supervision/sessions/{decision.execution_id}/intervene",
        json={"kind": "pause"},
        headers=sign_in(client, stranger.username),
    )
    assert response.status_code == 404
