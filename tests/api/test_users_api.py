from datetime import timedelta

import pytest

from services.clock import utcnow
from tests.api.conftest import sign_in
from tests.factories import make_user


def test_login_with_wrong_password_is_401_without_detail_leak(client, now):
    make_user(now, username="dana")
    response = client.post("/api/auth/login", json={"username": "dana", "password": "nope-nope"})
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong username or password"


def test_login_missing_field_names_it(client):
    response = client.post("/api/auth/login", json={"username": "dana"})
    assert response.status_code == 422
    assert response.json()["field"] == "password"


def test_admin_creates_users_and_others_cannot(client, now, admin_headers):
    created = client.post(
        "/api/users",
        json={"username": "erin", "password": "long enough pw", "role": "viewer"},
        headers=admin_headers,
    )
    assert created.status_code == 201
    assert created.json()["role"] == "viewer"
    assert "password" not in created.text
    viewer = sign_in(client, "erin", "long enough pw")
    refused = client.post(
        "/api/users",
        json={"username": "frank", "password": "long enough pw", "role": "admin"},
        headers=viewer,
    )
    assert refused.status_code == 403
    names = [u["username"] for u in client.get("/api/users", headers=admin_headers).json()]
    assert "frank" not in names


def test_unknown_role_is_422_naming_role(client, admin_headers):
    response = client.post(
        "/api/users",
        json={"username": "gina", "password": "long enough pw", "role": "king"},
        headers=admin_headers,
    )
    assert response.status_code == 422
    assert response.json()["field"] == "role"


def test_no_token_is_401(client):
    assert client.get("/api/users").status_code == 401


def test_health_reports_database(client):
    body = client.get("/api/health").json()
    assert body["database"] == "ok"
    assert "scheduler" in body


def test_openapi_document_lists_routes(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert "/api/agents" in paths and "/api/health" in paths


def test_a_deactivated_user_is_locked_out_at_once_even_with_a_recently_used_token(
    client, now, admin_headers
):
    user = make_user(now, username="leaving")
    headers = sign_in(client, "leaving")
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    assert client.get("/api/auth/me", headers=headers).status_code == 200  # now cached

    changed = client.patch(
        f"/api/users/{user.id}", json={"is_active": False}, headers=admin_headers
    )
    assert changed.status_code == 200
    assert client.get("/api/auth/me", headers=headers).status_code == 401


def test_a_demoted_admin_loses_admin_routes_at_once(client, now, admin_headers):
    other = make_user(now, role="admin", username="second-admin")
    theirs = sign_in(client, "second-admin")
    assert client.get("/api/auth/me", headers=theirs).json()["role"] == "admin"

    changed = client.patch(f"/api/users/{other.id}", json={"role": "viewer"}, headers=admin_headers)
    assert changed.status_code == 200
    assert client.get("/api/auth/me", headers=theirs).json()["role"] == "viewer"
    new_user = {"username": "sneaky", "password": "long enough pw", "role": "admin"}
    assert client.post("/api/users", json=new_user, headers=theirs).status_code == 403


SAME_SITE = {"Sec-Fetch-Site": "same-origin"}  # what the browser sends from our own page


def test_another_site_cannot_sign_a_browser_in_or_out(client, now):
    """Login CSRF: an attacker's page sends the victim to the exchange with the attacker's
    own code; the browser says the navigation is cross-site, and nothing happens."""
    from services import users as user_service
    from services.db import session_scope
    from tests.factories import make_user

    attacker = make_user(now)
    with session_scope() as session:
        code = user_service.issue_sign_in_code(session=session, user=attacker, now=utcnow())
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {}):
        refused = client.get(
            f"/api/auth/browser?code={code}", headers=headers, follow_redirects=False
        )
        assert refused.headers["location"] == "/login" and "set-cookie" not in refused.headers
        out = client.get("/api/auth/browser/sign-out", headers=headers, follow_redirects=False)
        assert "set-cookie" not in out.headers  # the victim's cookie stays
    still_good = client.get(
        f"/api/auth/browser?code={code}", headers=SAME_SITE, follow_redirects=False
    )
    assert "supervision_session=" in still_good.headers["set-cookie"]


def test_a_browser_sign_in_code_becomes_an_httponly_cookie_once(client, now):
    from services import users as user_service
    from services.db import session_scope
    from tests.factories import make_user

    user = make_user(now)
    with session_scope() as session:
        code = user_service.issue_sign_in_code(session=session, user=user, now=utcnow())
    first = client.get(
        f"/api/auth/browser?code={code}&next=/agents", headers=SAME_SITE, follow_redirects=False
    )
    assert first.status_code == 303 and first.headers["location"] == "/agents"
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("supervision_session=svu_")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["id"] == user.id
    again = client.get(f"/api/auth/browser?code={code}", headers=SAME_SITE, follow_redirects=False)
    assert again.headers["location"] == "/login?expired=1"
    assert "set-cookie" not in again.headers


def test_a_sign_in_code_is_good_for_seconds_and_never_leads_elsewhere(client, now):
    from services import users as user_service
    from services.db import session_scope
    from services.errors import AuthenticationFailed
    from tests.factories import make_user

    user = make_user(now)
    with session_scope() as session:
        late = user_service.issue_sign_in_code(session=session, user=user, now=now)
    with session_scope() as session, pytest.raises(AuthenticationFailed):
        user_service.redeem_sign_in_code(
            session=session,
            code=late,
            now=now + user_service.SIGN_IN_CODE_TTL,
            ttl=timedelta(hours=1),
        )
    with session_scope() as session:
        code = user_service.issue_sign_in_code(session=session, user=user, now=utcnow())
    away = client.get(
        f"/api/auth/browser?code={code}&next=//evil.example/x",
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert away.headers["location"] == "/"
