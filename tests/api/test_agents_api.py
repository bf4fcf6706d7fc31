from tests.api.conftest import sign_in
from tests.factories import make_user

AGENT = {
    "name": "billing-bot",
    "category": "finance",
    "maturity_level": "INTERN",
    "description": "Sends invoices",
    "specialties": ["invoices", "Payments"],
}


def test_admin_creates_agent_and_sees_key_once(client, admin_headers):
    created = client.post("/api/agents", json=AGENT, headers=admin_headers)
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["api_key"]
    assert key.startswith("sva_")
    agent_id = body["agent"]["id"]
    assert body["agent"]["specialties"] == ["invoices", "payments"]
    shown_later = client.get(f"/api/agents/{agent_id}", headers=admin_headers)
    assert key not in shown_later.text
    listing = client.get("/api/agents", headers=admin_headers)
    assert key not in listing.text


def test_duplicate_name_is_409_and_unknown_level_422(client, admin_headers):
    assert client.post("/api/agents", json=AGENT, headers=admin_headers).status_code == 201
    duplicate = client.post("/api/agents", json=AGENT, headers=admin_headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["field"] == "name"
    bad = client.post(
        "/api/agents",
        json={**AGENT, "name": "other", "maturity_level": "GURU"},
        headers=admin_headers,
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "maturity_level"
    assert len(client.get("/api/agents", headers=admin_headers).json()) == 1


def test_unknown_field_and_missing_field_are_422(client, admin_headers):
    extra = client.post("/api/agents", json={**AGENT, "colour": "red"}, headers=admin_headers)
    assert extra.status_code == 422
    assert extra.json()["field"] == "colour"
    missing = client.post(
        "/api/agents", json={"name": "x-bot", "maturity_level": "INTERN"}, headers=admin_headers
    )
    assert missing.status_code == 422
    assert missing.json()["field"] == "category"


def test_change_level_rotate_and_disable(client, admin_headers):
    body = client.post("/api/agents", json=AGENT, headers=admin_headers).json()
    agent_id, old_key = body["agent"]["id"], body["api_key"]
    unwatched = client.patch(
        f"/api/agents/{agent_id}", json={"maturity_level": "SUPERVISED"}, headers=admin_headers
    )
    assert unwatched.status_code == 422 and unwatched.json()["field"] == "supervisor_id"
    assert "choose a supervisor" in unwatched.json()["detail"]
    changed = client.patch(
        f"/api/agents/{agent_id}", json={"maturity_level": "AUTONOMOUS"}, headers=admin_headers
    )
    assert changed.json()["maturity_level"] == "AUTONOMOUS"
    rotated = client.post(f"/api/agents/{agent_id}/rotate-key", headers=admin_headers).json()
    assert rotated["api_key"] != old_key
    assert client.get(
        "/api/v1/agents/me", headers={"Authorization": f"Bearer {old_key}"}
    ).status_code in (401, 404)
    disabled = client.patch(
        f"/api/agents/{agent_id}", json={"is_enabled": False}, headers=admin_headers
    )
    assert disabled.json()["is_enabled"] is False


def test_supervisor_sees_only_own_agents_and_cannot_create(client, now, admin_headers):
    sue = make_user(now, role="supervisor", username="sue")
    client.post(
        "/api/agents",
        json={**AGENT, "name": "mine", "supervisor_id": sue.id},
        headers=admin_headers,
    )
    client.post("/api/agents", json={**AGENT, "name": "theirs"}, headers=admin_headers)
    headers = sign_in(client, "sue")
    names = [a["name"] for a in client.get("/api/agents", headers=headers).json()]
    assert names == ["mine"]
    assert (
        client.post("/api/agents", json={**AGENT, "name": "new"}, headers=headers).status_code
        == 403
    )


def test_audit_trail_lists_changes_and_verifies(client, admin_headers):
    client.post("/api/agents", json=AGENT, headers=admin_headers)
    events = client.get("/api/audit", headers=admin_headers).json()
    assert any(e["action"] == "agent.created" for e in events)
    assert all("sva_" not in str(e) for e in events)
    assert client.get("/api/audit/verify", headers=admin_headers).json()["intact"] is True


def test_audit_exports_as_csv_and_json_and_head_matches_verify(client, admin_headers):
    import csv
    import io

    client.post("/api/agents", json=AGENT, headers=admin_headers)
    as_json = client.get("/api/audit/export?format=json&action=agent.", headers=admin_headers)
    assert as_json.headers["content-disposition"].endswith('audit.json"')
    assert [e["action"] for e in as_json.json()] == ["agent.created"]
    as_csv = client.get("/api/audit/export?format=csv", headers=admin_headers)
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {r["action"] for r in rows} >= {"user.created", "agent.created"}
    head = client.get("/api/audit/head", headers=admin_headers).json()
    assert (
        head["hash"] == client.get("/api/audit/verify", headers=admin_headers).json()["head_hash"]
    )
    assert client.get("/api/audit/export?format=xml", headers=admin_headers).status_code == 422
