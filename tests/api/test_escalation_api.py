"""Escalation over HTTP: an admin's chain, a delegate named by a supervisor, who then decides
the proposal the chain brought them, and what the agent sees of the hops."""

from __future__ import annotations

from datetime import timedelta

from services.clock import utcnow
from services.db import session_scope
from tests.api.conftest import sign_in
from tests.factories import appear_online, make_agent, make_user


def test_a_bad_chain_is_refused_naming_the_field_and_changes_nothing(client, admin_headers):
    before = client.get("/api/escalation/chains", headers=admin_headers).json()
    assert before[0]["built_in"] and before[0]["final"] == "wait"
    for body, field in (
        ({"steps": ["supervisor", "boss"]}, "steps"),
        ({"steps": ["supervisor"], "final": "approve"}, "final"),
        ({"steps": ["supervisor"], "step_minutes": {"high": 0}}, "step_minutes"),
    ):
        response = client.put("/api/escalation/chains/default", json=body, headers=admin_headers)
        assert response.status_code == 422 and response.json()["field"] == field, response.text
    response = client.put(
        "/api/escalation/chains/agent:999", json={"steps": []}, headers=admin_headers
    )
    assert response.status_code == 422 and response.json()["field"] == "scope"
    assert client.get("/api/escalation/chains", headers=admin_headers).json() == before

    response = client.put(
        "/api/escalation/chains/category:billing",
        json={"steps": ["supervisor", "on_call"], "step_minutes": {"high": 3}},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    chain = response.json()
    assert chain["final"] == "reject" and chain["step_minutes"]["high"] == 3
    assert chain["label"] == "Category billing"


def test_the_delegate_is_asked_while_the_supervisor_is_away_and_decides(client, now):
    real_now = utcnow()
    sam, riley, other = make_user(real_now), make_user(real_now), make_user(real_now)
    intern = make_agent(real_now, level="INTERN", supervisor_id=sam.id)
    sam_headers = sign_in(client, sam.username)
    response = client.post(
        "/api/escalation/delegations",
        json={
            "delegate_id": riley.id,
            "starts_at": (real_now - timedelta(minutes=1)).isoformat(),
            "ends_at": (real_now + timedelta(days=7)).isoformat(),
        },
        headers=sam_headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["delegate_name"] == riley.display_name
    with session_scope() as session:
        appear_online(session, riley.id, real_now)

    agent_headers = {"Authorization": f"Bearer {intern.api_key}"}
    asked = client.post("/api/v1/actions", json={"action": "send_invoice"}, headers=agent_headers)
    proposal_id = asked.json()["proposal_id"]
    seen = client.get(f"/api/v1/proposals/{proposal_id}", headers=agent_headers).json()
    assert seen["escalation"]["step"] == "delegate"
    assert [hop["step"] for hop in seen["escalation"]["hops"]] == ["delegate"]
    assert "user_ids" not in str(seen)  # the agent learns steps, not people

    riley_headers = sign_in(client, riley.username)
    mine = client.get("/api/supervision/proposals", headers=riley_headers).json()
    assert [p["id"] for p in mine] == [proposal_id]
    assert mine[0]["step_kind"] == "delegate"
    other_headers = sign_in(client, other.username)
    assert (
        client.get(f"/api/supervision/proposals/{proposal_id}", headers=other_headers).status_code
        == 404
    )
    approved = client.post(
        f"/api/supervision/proposals/{proposal_id}/approve", json={}, headers=riley_headers
    )
    assert approved.status_code == 200 and approved.json()["decided_by_user_id"] == riley.id


def test_a_delegation_must_be_to_someone_who_can_decide_and_in_the_future(client, now):
    real_now = utcnow()
    sam, viewer = make_user(real_now), make_user(real_now, role="viewer")
    headers = sign_in(client, sam.username)
    for body, field in (
        ({"delegate_id": viewer.id}, "delegate_id"),
        ({"delegate_id": sam.id}, "delegate_id"),
        ({"delegate_id": 99999}, "delegate_id"),
    ):
        response = client.post(
            "/api/escalation/delegations",
            json={
                **body,
                "starts_at": real_now.isoformat(),
                "ends_at": (real_now + timedelta(days=1)).isoformat(),
            },
            headers=headers,
        )
        assert response.status_code == 422 and response.json()["field"] == field, response.text
    assert client.get("/api/escalation/delegations", headers=headers).json() == []


def test_odd_digits_and_far_times_are_refused_not_a_500(client, admin_headers):
    response = client.put(
        "/api/escalation/chains/agent:²", json={"steps": ["supervisor"]}, headers=admin_headers
    )
    assert response.status_code == 422 and response.json()["field"] == "scope"
    response = client.get(
        "/api/audit", params={"since": "0001-01-01T00:00:00+01:00"}, headers=admin_headers
    )
    assert response.status_code == 422 and response.json()["field"] == "since"
