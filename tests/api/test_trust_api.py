"""Refusals that protect users: other sites, password guessing, greedy agents."""

from __future__ import annotations

from services.config import get_settings
from tests.factories import make_agent, make_user


def test_requests_from_another_site_are_refused_and_change_nothing(client, now, admin_headers):
    response = client.post(
        "/api/agents",
        json={"name": "evil", "category": "x", "maturity_level": "AUTONOMOUS"},
        headers={**admin_headers, "Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert response.json()["field"] == "Origin"
    assert client.get("/api/agents", headers=admin_headers).json() == []
    same_site = client.get(
        "/api/agents", headers={**admin_headers, "Origin": "http://localhost:3000"}
    )
    assert same_site.status_code == 200, same_site.text


def test_repeated_wrong_passwords_are_slowed_down_with_429(client, now, monkeypatch):
    monkeypatch.setenv("LOGIN_ATTEMPTS_PER_15_MIN", "3")
    get_settings.cache_clear()
    make_user(now, username="target")
    for _ in range(3):
        assert (
            client.post(
                "/api/auth/login", json={"username": "target", "password": "guess-guess"}
            ).status_code
            == 401
        )
    refused = client.post(
        "/api/auth/login", json={"username": "target", "password": "correct horse battery"}
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


def test_agent_over_its_budget_gets_429_with_retry_after(client, now, monkeypatch):
    monkeypatch.setenv("AGENT_REQUESTS_PER_MINUTE", "3")
    get_settings.cache_clear()
    agent = make_agent(now)
    headers = {"Authorization": f"Bearer {agent.api_key}"}
    statuses = [client.get("/api/v1/agents/me", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    last = client.get("/api/v1/agents/me", headers=headers)
    assert 0 < int(last.headers["Retry-After"]) <= 60


def test_secrets_never_appear_in_audit_data(client, now, admin_headers):
    created = client.post(
        "/api/agents",
        json={"name": "secretive", "category": "x", "maturity_level": "INTERN"},
        headers=admin_headers,
    ).json()
    client.post(f"/api/agents/{created['agent']['id']}/rotate-key", headers=admin_headers)
    client.post(
        "/api/users",
        json={"username": "newbie", "password": "p4ssword-here", "role": "viewer"},
        headers=admin_headers,
    )
    audit = client.get("/api/audit?limit=1000", headers=admin_headers).text
    assert created["api_key"] not in audit
    assert created["webhook_secret"] not in audit
    assert "p4ssword-here" not in audit and "argon2" not in audit
