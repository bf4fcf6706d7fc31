"""SSE: ordered events with ids, resume with Last-Event-ID, end after the run, cleanup."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from supervision_app.api.app import build_api
from supervision_app.api.live import hub
from supervision_app.api.sse import open_feeds
from supervision_app.client import SupervisionClient
from tests.api.conftest import sign_in
from tests.api.test_governance_api import go_online
from tests.factories import make_agent, make_user


def parse(text: str) -> list[dict]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith(":"):
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
        if "event" in fields:
            events.append(fields)
    return events


@pytest.fixture
def finished_run(client, now):
    supervisor = make_user(now)
    headers = go_online(client, supervisor)
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    bot = SupervisionClient("http://testserver", agent.api_key, http=client)
    run = bot.run(bot.act("report").execution_id)
    for index in range(5):
        run.log(f"line {index}")
    run.complete({"done": True})
    return run.execution_id, headers, agent


def test_stream_replays_every_event_with_ids_then_ends(client, finished_run):
    execution_id, headers, _ = finished_run
    response = client.get(f"/api/supervision/{execution_id}/stream", headers=headers)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse(response.text)
    assert [e["id"] for e in events[:-1]] == ["1", "2", "3", "4", "5", "6"]
    assert events[-1]["event"] == "end"
    assert json.loads(events[0]["data"])["message"] == "line 0"


def test_resume_with_last_event_id_has_no_gap_and_no_duplicate(client, finished_run):
    execution_id, headers, _ = finished_run
    response = client.get(
        f"/api/supervision/{execution_id}/stream", headers={**headers, "Last-Event-ID": "3"}
    )
    ids = [e["id"] for e in parse(response.text) if "id" in e]
    assert ids == ["4", "5", "6"]


def test_resume_point_beyond_the_log_is_reported(client, finished_run):
    execution_id, headers, _ = finished_run
    response = client.get(
        f"/api/supervision/{execution_id}/stream", headers={**headers, "Last-Event-ID": "99"}
    )
    events = parse(response.text)
    assert events[0]["event"] == "reset"
    assert json.loads(events[0]["data"])["requested"] == 99


def test_only_supervisor_admin_or_owning_agent_may_stream(client, now, finished_run):
    execution_id, _, agent = finished_run
    stranger = make_user(now)
    assert (
        client.get(
            f"/api/supervision/{execution_id}/stream", headers=sign_in(client, stranger.username)
        ).status_code
        == 404
    )
    other_agent = make_agent(now)
    assert (
        client.get(
            f"/api/v1/executions/{execution_id}/stream",
            headers={"Authorization": f"Bearer {other_agent.api_key}"},
        ).status_code
        == 404
    )
    own = client.get(
        f"/api/v1/executions/{execution_id}/stream",
        headers={"Authorization": f"Bearer {agent.api_key}"},
    )
    assert own.status_code == 200


@pytest.fixture
def live_server(database):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_api(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_live_events_arrive_while_streaming_and_closed_clients_are_cleaned_up(live_server, now):
    supervisor = make_user(now)
    with httpx.Client(base_url=live_server, timeout=10) as http:
        headers = go_online(http, supervisor)
        agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
        bot = SupervisionClient(live_server, agent.api_key)
        run = bot.run(bot.act("report").execution_id)
        received = []
        with http.stream(
            "GET", f"/api/supervision/{run.execution_id}/stream", headers=headers
        ) as response:
            lines = response.iter_lines()
            run.log("hello live")
            for line in lines:
                if line.startswith("data: ") and "hello live" in line:
                    received.append(line)
                    break
        assert received
        deadline = time.monotonic() + 5
        while (hub.waiter_count() or open_feeds()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hub.waiter_count() == 0
        assert open_feeds() == 0
        run.complete()


@pytest.mark.parametrize("how", ["signs out", "is deactivated"])
def test_a_stream_ends_when_its_watcher_signs_out_or_is_deactivated(
    live_server, now, monkeypatch, how
):
    from supervision_app.api import sse

    monkeypatch.setattr(sse, "RECHECK_S", 0.2)
    supervisor = make_user(now)
    admin = make_user(now, role="admin")
    with httpx.Client(base_url=live_server, timeout=10) as http:
        headers = go_online(http, supervisor)
        agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
        bot = SupervisionClient(live_server, agent.api_key)
        run = bot.run(bot.act("report").execution_id)
        run.log("before")
        seen = []
        with http.stream(
            "GET", f"/api/supervision/{run.execution_id}/stream", headers=headers
        ) as response:
            for line in response.iter_lines():
                seen.append(line)
                if "before" in line:
                    if how == "signs out":
                        assert http.post("/api/auth/logout", headers=headers).status_code == 204
                    else:
                        changed = http.patch(
                            f"/api/users/{supervisor.id}",
                            json={"is_active": False},
                            headers=sign_in(http, admin.username),
                        )
                        assert changed.status_code == 200, changed.text
                if line.startswith("event: error"):
                    break
        assert "event: error" in seen  # the stream told them, and ended


def test_an_agents_stream_ends_when_its_key_is_rotated(live_server, now, monkeypatch):
    from supervision_app.api import sse

    monkeypatch.setattr(sse, "RECHECK_S", 0.2)
    admin = make_user(now, role="admin")
    agent = make_agent(now)
    with httpx.Client(base_url=live_server, timeout=10) as http:
        bot = SupervisionClient(live_server, agent.api_key)
        run = bot.run(bot.act("report").execution_id)
        run.log("before")
        with http.stream(
            "GET",
            f"/api/v1/executions/{run.execution_id}/stream",
            headers={"Authorization": f"Bearer {agent.api_key}"},
        ) as response:
            for line in response.iter_lines():
                if "before" in line:
                    rotated = http.post(
                        f"/api/agents/{agent.agent.id}/rotate-key",
                        headers=sign_in(http, admin.username),
                    )
                    assert rotated.status_code == 200
                if line.startswith("event: error"):
                    break
            else:
                pytest.fail("the stream did not end")
