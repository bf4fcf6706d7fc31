"""A supervisor's decision reaches the agent and sticks: over HTTP, with the bundled client."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest

from services.clock import utcnow
from services.db import session_scope
from services.executions import LivenessPolicy
from services.run_liveness import end_lost_runs
from supervision_app.client import SupervisionClient, Terminated
from tests.api.conftest import sign_in
from tests.api.test_governance_api import agent_client, go_online
from tests.factories import make_agent, make_user


@pytest.fixture
def supervised(client, now):
    """A SUPERVISED agent's run under way, its supervisor online and signed in."""
    supervisor = make_user(now)
    headers = go_online(client, supervisor)
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    decision = agent_client(client, agent.api_key).act("reply")
    assert decision.decision == "approved_to_run"
    run_id = decision.execution_id
    agent_headers = {"Authorization": f"Bearer {agent.api_key}"}
    assert report(client, agent_headers, run_id, [log("started")]).status_code == 200
    return supervisor, headers, agent, agent_headers, run_id


def log(message: str) -> dict:
    return {"type": "log", "message": message}


def report(client, headers, run_id, events, ack=()):
    return client.post(
        f"/api/v1/executions/{run_id}/events",
        json={"events": events, "ack": list(ack)},
        headers=headers,
    )


def steer(client, headers, run_id, kind, text=None):
    response = client.post(
        f"/api/supervision/sessions/{run_id}/intervene",
        json={"kind": kind, "text": text},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_paused_run_cannot_complete_and_is_told_why(client, supervised):
    _, headers, _, agent_headers, run_id = supervised
    pause = steer(client, headers, run_id, "pause")
    refused = report(client, agent_headers, run_id, [{"type": "completed", "result": 1}])
    assert refused.status_code == 409
    body = refused.json()
    assert body["status"] == "paused" and body["paused"] is True
    assert [(c["id"], c["type"]) for c in body["controls"]] == [(pause["id"], "pause")]
    assert "paused" in body["detail"]
    progress = {"type": "progress", "step": "send", "step_index": 1, "total_steps": 2}
    assert report(client, agent_headers, run_id, [log("waiting"), progress]).status_code == 409
    waiting = report(client, agent_headers, run_id, [log("waiting")], ack=[pause["id"]])
    assert waiting.status_code == 200 and waiting.json()["controls"] == []  # acknowledged
    steer(client, headers, run_id, "resume")
    done = report(client, agent_headers, run_id, [{"type": "completed", "result": 1}])
    assert done.status_code == 200 and done.json()["status"] == "completed"
    again = report(client, agent_headers, run_id, [{"type": "completed", "result": 1}])
    assert again.status_code == 409 and again.json()["status"] == "completed"
    resumed = client.post(
        f"/api/supervision/sessions/{run_id}/intervene", json={"kind": "resume"}, headers=headers
    )
    assert resumed.status_code == 409  # nothing to resume: it finished after the resume


def test_the_client_waits_out_a_pause_and_then_completes(client, supervised):
    _, headers, agent, _, run_id = supervised
    run = agent_client(client, agent.api_key).run(run_id)
    steer(client, headers, run_id, "pause")
    resumer = threading.Timer(0.3, steer, args=(client, headers, run_id, "resume"))
    resumer.start()
    run.complete({"sent": True})  # refused while paused, sent again after the resume
    resumer.join()
    assert run.status == "completed" and not run.paused


class DropFirstAnswer(httpx.BaseTransport):
    """Delivers requests, but loses the first answer to an events report (a network cut)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.dropped = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.inner.handle_request(request)
        body = answer.read()  # the server has done its work by now
        if not self.dropped and request.url.path.endswith("/events"):
            self.dropped = True
            raise httpx.ReadError("connection reset", request=request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)


def test_controls_survive_a_lost_answer(client, supervised):
    _, headers, agent, _, run_id = supervised
    transport = DropFirstAnswer(client._transport)
    flaky = httpx.Client(base_url="http://testserver", transport=transport)
    run = SupervisionClient("http://testserver", agent.api_key, http=flaky).run(run_id)
    steer(client, headers, run_id, "correction", "use the formal tone")
    steer(client, headers, run_id, "pause")
    with pytest.raises(httpx.ReadError):
        run.log("this answer carried the correction and the pause, and is lost")
    assert not run.paused and run.corrections == []
    resumer = threading.Timer(0.3, steer, args=(client, headers, run_id, "resume"))
    resumer.start()
    run.progress("send", 1, 2)  # both come again: the client waits, then sends
    resumer.join()
    assert run.status == "running"
    assert run.corrections == ["use the formal tone"]  # applied once, though sent twice
    assert run.execution_id == run_id


def test_a_restarted_agent_learns_it_is_paused(client, supervised):
    _, headers, agent, agent_headers, run_id = supervised
    steer(client, headers, run_id, "pause")
    state = client.get(f"/api/v1/executions/{run_id}/control", headers=agent_headers).json()
    assert state["paused"] and [c["type"] for c in state["controls"]] == ["pause"]
    again = client.get(f"/api/v1/executions/{run_id}/control", headers=agent_headers).json()
    assert [c["id"] for c in again["controls"]] == [c["id"] for c in state["controls"]]
    ack = ",".join(str(c["id"]) for c in state["controls"])
    acknowledged = client.get(
        f"/api/v1/executions/{run_id}/control", params={"ack": ack}, headers=agent_headers
    ).json()
    assert acknowledged["paused"] and acknowledged["controls"] == []  # still paused, said once


def test_terminate_reaches_the_client_as_terminated(client, supervised):
    _, headers, agent, _, run_id = supervised
    run = agent_client(client, agent.api_key).run(run_id)
    steer(client, headers, run_id, "terminate", "wrong customer")
    with pytest.raises(Terminated, match="wrong customer"):
        run.log("one more line")
    assert run.status == "terminated"


def test_a_lost_run_tells_its_agent_to_stop_when_it_comes_back(client, supervised, now):
    _, _, agent, agent_headers, run_id = supervised
    later = utcnow() + timedelta(minutes=10)
    with session_scope() as session:
        lost = end_lost_runs(
            session=session,
            now=later,
            policy=LivenessPolicy(timedelta(minutes=1), timedelta(minutes=5)),
        )
    assert lost == [run_id]
    refused = report(client, agent_headers, run_id, [log("back")])
    assert refused.status_code == 409
    assert refused.json()["status"] == "lost"
    assert [c["type"] for c in refused.json()["controls"]] == ["terminate"]
    run = agent_client(client, agent.api_key).run(run_id)
    with pytest.raises(Terminated, match="lost"):
        run.log("back again")


def test_a_silent_run_is_shown_stale_to_its_agent_and_its_supervisor(
    client, supervised, monkeypatch
):
    from supervision_app.api import routes_agent_api, routes_supervision

    _, headers, _, agent_headers, run_id = supervised
    assert (
        client.get(f"/api/v1/executions/{run_id}", headers=agent_headers).json()["stale"] is False
    )
    two_minutes_on = utcnow() + timedelta(minutes=2)  # the stale threshold is 60 s
    for routes in (routes_agent_api, routes_supervision):
        monkeypatch.setattr(routes, "utcnow", lambda: two_minutes_on)
    assert client.get(f"/api/v1/executions/{run_id}", headers=agent_headers).json()["stale"]
    active = client.get("/api/supervision/sessions/active", headers=headers).json()
    assert [(r["id"], r["stale"]) for r in active] == [(run_id, True)]


def test_a_demoted_supervisor_steers_nothing_and_new_runs_wait(client, supervised, now):
    supervisor, headers, agent, _, run_id = supervised
    admin = make_user(now, role="admin")
    admin_headers = sign_in(client, admin.username)
    demoted = client.patch(
        f"/api/users/{supervisor.id}", json={"role": "viewer"}, headers=admin_headers
    )
    assert demoted.status_code == 200, demoted.text
    refused = client.post(
        f"/api/supervision/sessions/{run_id}/intervene", json={"kind": "pause"}, headers=headers
    )
    assert refused.status_code == 403
    # Now a viewer: they read the team's runs like any viewer, and steer none of them.
    active = client.get("/api/supervision/sessions/active", headers=headers).json()
    assert [run["id"] for run in active] == [run_id]
    queued = agent_client(client, agent.api_key).act("reply")
    assert queued.decision == "queued"
    cancel = client.delete(f"/api/supervised-queue/{queued.queue_entry_id}", headers=headers)
    assert cancel.status_code == 403
    me = client.get(
        "/api/v1/agents/me", headers={"Authorization": f"Bearer {agent.api_key}"}
    ).json()
    assert me["supervisor"]["available"] is False
    # The admin gives the agent a new supervisor: the waiting work follows it.
    successor = make_user(now)
    reassigned = client.patch(
        f"/api/agents/{agent.agent.id}", json={"supervisor_id": successor.id}, headers=admin_headers
    )
    assert reassigned.status_code == 200, reassigned.text
    moved = client.get(
        f"/api/supervised-queue/{queued.queue_entry_id}",
        headers=sign_in(client, successor.username),
    )
    assert moved.status_code == 200 and moved.json()["supervisor_id"] == successor.id


def test_a_disabled_agents_refused_action_is_audited(client, now, admin_headers):
    agent = make_agent(now, level="AUTONOMOUS")
    disabled = client.patch(
        f"/api/agents/{agent.agent.id}", json={"is_enabled": False}, headers=admin_headers
    )
    assert disabled.status_code == 200, disabled.text
    refused = client.post(
        "/api/v1/actions",
        json={"action": "x"},
        headers={"Authorization": f"Bearer {agent.api_key}"},
    )
    assert refused.status_code == 403
    audit = client.get(
        "/api/audit", params={"action": "action.blocked"}, headers=admin_headers
    ).json()
    rows = audit["items"] if isinstance(audit, dict) else audit
    assert any("disabled" in str(row) and agent.agent.name in str(row) for row in rows)


class CountingTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.requests = inner, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        answer = self.inner.handle_request(request)
        body = answer.read()
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)


def test_a_waiting_client_long_polls_instead_of_spinning(client, supervised):
    _, headers, agent, _, run_id = supervised
    counting = CountingTransport(client._transport)
    http = httpx.Client(base_url="http://testserver", transport=counting)
    run = SupervisionClient("http://testserver", agent.api_key, http=http).run(run_id)
    steer(client, headers, run_id, "correction", "shorter, please")
    run.log("applying")  # the correction arrives; its acknowledgement goes with the next call
    steer(client, headers, run_id, "pause")
    counting.requests = 0
    resumer = threading.Timer(1.5, steer, args=(client, headers, run_id, "resume"))
    resumer.start()
    run.progress("send", 1, 2)  # refused (paused), waits for the resume, then sent again
    resumer.join()
    assert counting.requests <= 6, counting.requests  # a refusal, long polls, the resend
    assert run.corrections == ["shorter, please"]
    pending = client.get(
        f"/api/v1/executions/{run_id}/control",
        headers={"Authorization": f"Bearer {agent.api_key}"},
    ).json()
    assert pending["controls"] == []  # every control acknowledged
