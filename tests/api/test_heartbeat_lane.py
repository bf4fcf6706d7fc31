"""The heartbeat fast lane answers only beats that move a timestamp; all else reaches the route.

The lane is put in front of a recording app here, so a test sees which requests it answered
and exactly what it passed on.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from starlette.testclient import TestClient

from services import presence
from services.clock import utcnow
from services.db import read_scope
from services.heartbeats import heartbeat_buffer
from services.policy import presence_rules
from supervision_app.api.heartbeat_lane import HeartbeatFastLane
from tests.api.conftest import sign_in
from tests.factories import make_user


class RecordingRoute:
    """Stands for the FastAPI app behind the lane: remembers what reached it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []

    async def __call__(self, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.received.append((scope["path"], body))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"route"})


@pytest.fixture
def online_tab(client, now):
    """A signed-in user whose tab's first heartbeat went through the route (the full path)."""
    user = make_user(now)
    headers = sign_in(client, user.username)
    started = client.post(f"/api/users/{user.id}/activity/sessions", json={}, headers=headers)
    token = started.json()["session_token"]
    first = client.post(
        f"/api/users/{user.id}/activity/heartbeat", json={"session_token": token}, headers=headers
    )
    assert first.status_code == 200 and first.json()["state"] == "online"
    return user, headers, token, first.json()


def test_a_beat_that_only_moves_a_timestamp_is_answered_by_the_lane(online_tab):
    user, headers, token, first = online_tab
    route = RecordingRoute()
    lane = TestClient(HeartbeatFastLane(route))
    beat = lane.post(
        f"/api/users/{user.id}/activity/heartbeat", json={"session_token": token}, headers=headers
    )
    assert route.received == []
    assert beat.status_code == 200 and beat.headers["content-type"] == "application/json"
    answer = beat.json()
    assert answer.keys() == first.keys()  # the route's answer, field for field
    assert answer["user_id"] == user.id and answer["state"] == "online"
    assert answer["override_state"] is None
    heartbeat_buffer.flush()  # the beat reaches the database with the next flush
    with read_scope() as session:
        stored = presence.get_presence(
            session=session, user_id=user.id, now=utcnow(), rules=presence_rules()
        )
    assert stored.last_heartbeat_at == datetime.fromisoformat(answer["last_heartbeat_at"])
    assert stored.last_heartbeat_at > datetime.fromisoformat(first["last_heartbeat_at"])


def test_everything_else_reaches_the_route_with_its_body_intact(client, online_tab, now):
    user, headers, token, _ = online_tab
    other = make_user(now)
    other_headers = sign_in(client, other.username)
    new_tab = client.post(f"/api/users/{user.id}/activity/sessions", json={}, headers=headers)
    beat = f"/api/users/{user.id}/activity/heartbeat"
    good = json.dumps({"session_token": token}).encode()
    passed_on = [
        ("someone else's beat", beat, good, other_headers, "application/json"),
        (
            "another user in the path",
            f"/api/users/{other.id}/activity/heartbeat",
            good,
            headers,
            "application/json",
        ),
        ("unknown sign-in", beat, good, {"Authorization": "Bearer nobody"}, "application/json"),
        ("no sign-in", beat, good, {}, "application/json"),
        (
            "extra field",
            beat,
            json.dumps({"session_token": token, "x": 1}).encode(),
            headers,
            "application/json",
        ),
        ("token too short", beat, b'{"session_token": "short"}', headers, "application/json"),
        ("not JSON", beat, b"session_token=" + token.encode(), headers, "application/json"),
        ("not sent as JSON", beat, good, headers, "text/plain"),
        (
            "a tab's first beat",
            beat,
            json.dumps({"session_token": new_tab.json()["session_token"]}).encode(),
            headers,
            "application/json",
        ),
        ("too large", beat, good + b" " * 600, headers, "application/json"),
        (
            "not a heartbeat",
            f"/api/users/{user.id}/activity/override",
            good,
            headers,
            "application/json",
        ),
    ]
    route = RecordingRoute()
    lane = TestClient(HeartbeatFastLane(route))
    for why, path, body, request_headers, content_type in passed_on:
        response = lane.post(
            path, content=body, headers={**request_headers, "Content-Type": content_type}
        )
        assert response.status_code == 299, why
        assert route.received[-1] == (path, body), why
    assert len(route.received) == len(passed_on)
