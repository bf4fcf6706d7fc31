"""API tests talk HTTP (httpx via Starlette's TestClient) to the same FastAPI app Reflex mounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from supervision_app.api.app import build_api
from tests.factories import PASSWORD, make_user


@pytest.fixture
def client(database) -> Iterator[TestClient]:
    with TestClient(build_api()) as test_client:
        yield test_client


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def admin_headers(client, now) -> dict[str, str]:
    admin = make_user(now, role="admin")
    return sign_in(client, admin.username)
