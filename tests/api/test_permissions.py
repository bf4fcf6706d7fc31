"""Walks the whole permission matrix over HTTP: every route, every kind of caller."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services import governance, on_call, presence
from services.db import session_scope
from services.execution_events import CompletedEvent, record_events
from services.governance import ActionInput
from services.policy import governance_policy, presence_rules
from tests.api.conftest import sign_in
from tests.api.permission_matrix import CALLERS, MATRIX, markdown
from tests.factories import PASSWORD, appear_online, make_agent, make_user

REFUSED = {401, 403, 404}
DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


@pytest.fixture
def world(client, now):
    from services.clock import utcnow

    real_now = utcnow()
    owner = make_user(real_now, username="owner")
    other = make_user(real_now, username="other")
    viewer = make_user(real_now, role="viewer", username="watcher")
    admin = make_user(real_now, role="admin", username="boss")
    agent_a = make_agent(real_now, level="SUPERVISED", supervisor_id=owner.id)
    agent_b = make_agent(real_now, level="INTERN", supervisor_id=owner.id)
    stranger_agent = make_agent(real_now, level="AUTONOMOUS")
    policy = governance_policy()
    with session_scope() as session:
        tab_token, _ = presence.open_tab(session=session, user_id=owner.id, now=real_now)
        queued = governance.route_action(
            session=session,
            agent=agent_a.agent,
            request=ActionInput(action="q"),
            now=real_now,
            policy=policy,
        )
        appear_online(session, owner.id, real_now, presence_rules())
    with session_scope() as session:
        running = governance.route_action(
            session=session,
            agent=agent_a.agent,
            request=ActionInput(action="r"),
            now=real_now,
            policy=policy,
        )
        finished = governance.route_action(
            session=session,
            agent=agent_a.agent,
            request=ActionInput(action="f"),
            now=real_now,
            policy=policy,
        )
        record_events(
            session=session,
            agent=agent_a.agent,
            execution_id=finished.execution_id,
            events=[CompletedEvent(type="completed")],
            now=real_now,
        )
        proposal = governance.route_action(
            session=session,
            agent=agent_b.agent,
            request=ActionInput(action="p"),
            now=real_now,
            policy=policy,
        )
        presence.clear_override(
            session=session, user_id=owner.id, now=real_now, rules=presence_rules()
        )
    with session_scope() as session:
        delegation = on_call.name_delegate(
            session=session,
            caller=owner,
            user_id=owner.id,
            delegate_id=other.id,
            starts_at=real_now,
            ends_at=real_now + timedelta(days=1),
            now=real_now,
        )
    headers = {
        "anon": {},
        "viewer": sign_in(client, viewer.username),
        "supervisor": sign_in(client, other.username),
        "owner": sign_in(client, owner.username),
        "admin": sign_in(client, admin.username),
        "agent": {"Authorization": f"Bearer {stranger_agent.api_key}"},
        "own-agent": {"Authorization": f"Bearer {agent_a.api_key}"},
    }
    params = {
        "user_id": owner.id,
        "agent_id": agent_b.agent.id,
        "execution_id": running.execution_id,
        "session_id": running.execution_id,
        "proposal_id": proposal.proposal_id,
        "queue_id": queued.queue_entry_id,
        "entry_id": queued.queue_entry_id,
        "session_token": tab_token,
        "scope": "default",
        "shift_id": 1,  # the one the admin's POST makes, earlier in the walk
        "delegation_id": delegation.id,
        "channel_id": 1,  # the one the admin's POST makes, earlier in the walk
    }
    overrides = {
        "/api/supervision/agents/{agent_id}/sessions": {"agent_id": agent_a.agent.id},
        "/api/v1/executions/{execution_id}/stream": {"execution_id": finished.execution_id},
        "/api/supervision/{execution_id}/stream": {"execution_id": finished.execution_id},
    }
    return headers, params, overrides, tab_token


BODIES = {
    ("POST", "/api/auth/login"): {"username": "owner", "password": PASSWORD},
    ("POST", "/api/users"): {
        "username": "made-here",
        "password": "long enough pw",
        "role": "viewer",
    },
    ("PATCH", "/api/users/{user_id}"): {"role": "supervisor"},
    ("POST", "/api/agents"): {"name": "made-here", "category": "x", "maturity_level": "INTERN"},
    ("PATCH", "/api/agents/{agent_id}"): {"description": "checked"},
    ("POST", "/api/v1/actions"): {"action": "permission_check"},
    ("PUT", "/api/v1/agents/me/callback"): {"url": None},
    ("POST", "/api/v1/executions/{execution_id}/events"): {
        "events": [{"type": "log", "message": "hi"}]
    },
    ("POST", "/api/users/{user_id}/activity/sessions"): {},
    ("POST", "/api/users/{user_id}/activity/override"): {"state": "away"},
    ("PATCH", "/api/supervised-queue/{queue_id}/priority"): {"priority": 1},
    ("POST", "/api/supervision/sessions/{session_id}/intervene"): {
        "kind": "correction",
        "text": "checked",
    },
    ("POST", "/api/supervision/sessions/{session_id}/complete"): {"note": "checked", "rating": 4},
    ("POST", "/api/supervision/proposals/{proposal_id}/approve"): {},
    ("POST", "/api/supervision/proposals/{proposal_id}/reject"): {"reason": "checked"},
    ("POST", "/api/v1/proposals/{proposal_id}/withdraw"): {"reason": "checked"},
    ("POST", "/api/v1/queue/{entry_id}/withdraw"): {"reason": "checked"},
    ("PUT", "/api/escalation/chains/{scope}"): {"steps": ["supervisor"], "final": "wait"},
    ("POST", "/api/escalation/on-call"): {
        "category": "ops",
        "user_id": 1,
        "weekdays": [0],
        "start": "09:00",
        "end": "17:00",
    },
    ("POST", "/api/escalation/channels"): {
        "name": "mail",
        "kind": "email",
        "target": "supervision@example.com",
        "settings": {"host": "smtp.example.com"},
    },
    ("PATCH", "/api/escalation/channels/{channel_id}"): {"enabled": False},
    ("PUT", "/api/escalation/users/{user_id}/email"): {"email": "owner@example.com"},
    ("POST", "/api/escalation/delegations"): {
        "delegate_id": 1,
        "starts_at": "2030-01-01T00:00:00Z",
        "ends_at": "2030-01-02T00:00:00Z",
    },
}


def test_documented_matrix_is_current():
    assert DOC.read_text() == markdown(), (
        "regenerate: python -m tests.api.permission_matrix > docs/permissions.md"
    )


def test_every_route_is_in_the_matrix(client):
    routes = {
        (method.upper(), path)
        for path, operations in client.get("/api/openapi.json").json()["paths"].items()
        for method in operations
    }
    assert routes - set(MATRIX) == set(), "routes missing from the permission matrix"
    assert set(MATRIX) - routes == set(), "matrix lists routes that do not exist"


def test_no_route_lets_the_wrong_caller_through(client, world):
    headers, params, overrides, tab_token = world
    wrongly_allowed, wrongly_refused = [], []
    for (method, path), allowed in MATRIX.items():
        values = {**params, **overrides.get(path, {})}
        for caller in CALLERS:
            if caller == "own-agent" and path.startswith("/api/v1/proposals/{proposal_id}"):
                continue  # agent A owns the queue entry and runs, B the proposal: checked below
            url = path.format(**values)
            body = BODIES.get((method, path))
            if path.endswith("/heartbeat") or path.endswith("/sessions/close"):
                body = {"session_token": tab_token}
            caller_headers = headers[caller]
            if path == "/api/auth/logout" and caller in ("viewer", "supervisor", "owner", "admin"):
                continue  # would sign the caller out for the rest of the walk; checked below
            response = client.request(method, url, json=body, headers=caller_headers)
            refused = response.status_code in REFUSED
            if caller in allowed and refused:
                wrongly_refused.append(
                    (method, path, caller, response.status_code, response.text[:120])
                )
            if caller not in allowed and not refused:
                wrongly_allowed.append((method, path, caller, response.status_code))
    assert wrongly_allowed == []
    assert wrongly_refused == []


def test_the_proposing_agent_may_read_and_withdraw_its_proposal_and_users_may_sign_out(client, now):
    from supervision_app.client import SupervisionClient

    intern = make_agent(now, level="INTERN")
    decision = SupervisionClient("http://testserver", intern.api_key, http=client).act("x")
    own = client.get(
        f"/api/v1/proposals/{decision.proposal_id}",
        headers={"Authorization": f"Bearer {intern.api_key}"},
    )
    assert own.status_code == 200
    withdrawn = client.post(
        f"/api/v1/proposals/{decision.proposal_id}/withdraw",
        json={"reason": "the caller gave up"},
        headers={"Authorization": f"Bearer {intern.api_key}"},
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    user = make_user(now)
    headers = sign_in(client, user.username)
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/auth/me", headers=headers).status_code == 401
