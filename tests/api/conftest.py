"""API tests talk HTTP (httpx via Starlette's TestClient) to the same FastAPI app Reflex mounts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
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


@pytest.fixture
def live_api(database) -> Iterator[tuple[str, int]]:
    """The API on a real socket (uvicorn in a thread): chunked bodies arrive as they do from
    a client, in pieces, not as one message as in the in-process test client."""
    config = uvicorn.Config(build_api(), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(10)
