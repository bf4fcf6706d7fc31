"""#16 item 10: private files, both secrets rotated, the last admin kept, health details for
admins only, audit filters that mean what they say."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.db import build_engine
from tests.api.conftest import sign_in
from tests.factories import make_agent, make_user


def test_a_new_database_is_readable_by_its_owner_only(tmp_path):
    database = tmp_path / "data" / "app.db"
    engine = build_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x)")
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        connection.commit()
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files if f.exists()}
    engine.dispose()
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700
    assert modes and set(modes.values()) == {0o600}, modes


def test_rotating_a_key_rotates_the_webhook_secret_too(client, now, admin_headers):
    agent = make_agent(now)
    rotated = client.post(f"/api/agents/{agent.agent.id}/rotate-key", headers=admin_headers)
    assert rotated.status_code == 200
    assert rotated.json()["webhook_secret"] != agent.webhook_secret
    assert rotated.json()["api_key"] != agent.api_key


def test_the_last_active_admin_is_kept(client, now):
    admin = make_user(now, role="admin")
    headers = sign_in(client, admin.username)
    for change, field in (({"role": "supervisor"}, "role"), ({"is_active": False}, "is_active")):
        refused = client.patch(f"/api/users/{admin.id}", json=change, headers=headers)
        assert refused.status_code == 409, refused.text
        assert refused.json()["field"] == field
    second = make_user(now, role="admin")
    demoted = client.patch(f"/api/users/{second.id}", json={"role": "viewer"}, headers=headers)
    assert demoted.status_code == 200  # another admin is left: allowed


def test_health_tells_everyone_the_status_and_only_admins_the_details(client, now):
    public = client.get("/api/health").json()
    assert public["status"] == "ok" and set(public["scheduler"]) == {"running"}
    admin = make_user(now, role="admin")
    detailed = client.get("/api/health", headers=sign_in(client, admin.username)).json()
    assert {"running", "last_run", "errors"} <= set(detailed["scheduler"])
    supervisor = make_user(now)
    told = client.get("/api/health", headers=sign_in(client, supervisor.username)).json()
    assert set(told["scheduler"]) == {"running"}


@pytest.mark.parametrize("wildcard", ["%", "agent_created", "agent%created"])
def test_audit_filters_match_literally(client, now, admin_headers, wildcard):
    make_agent(now)
    found = client.get("/api/audit", params={"action": wildcard}, headers=admin_headers).json()
    assert found == []  # as wildcards, each would match agent.created


def test_the_audit_csv_never_starts_a_cell_like_a_formula(client, now, admin_headers):
    import csv
    import io

    created = client.post(  # "-1-1" is a valid username, and a formula to a spreadsheet
        "/api/users",
        json={"username": "-1-1", "password": "a long password", "role": "viewer"},
        headers=admin_headers,
    )
    assert created.status_code in (200, 201), created.text
    sign_in(client, "-1-1", "a long password")  # "user.signed_in" with that actor name
    export = client.get("/api/audit/export", params={"format": "csv"}, headers=admin_headers)
    assert export.status_code == 200, export.text
    cells = [cell for row in csv.reader(io.StringIO(export.text)) for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert "'-1-1" in cells
