"""Attacks on the API's edge, made the way an attacker makes them (#16): oversize bodies that
do not say their size, JSON nested to break the screens later, forged request ids, and
crashes that must still answer JSON."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from sqlmodel import select

from models import ActionRequest
from services.config import get_settings
from services.db import read_scope
from services.json_limits import MAX_DEPTH
from supervision_app.api.app import build_api
from tests.factories import make_agent


def send_chunked(address, path: str, headers: dict[str, str], total: int) -> tuple[int, int]:
    """POST `total` bytes of a JSON string in 64 KB chunks without a Content-Length; stop
    when the server answers. Returns (status, bytes sent before the answer came)."""
    chunk = b"x" * 65536
    with socket.create_connection(address, timeout=10) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: {address[0]}", "Transfer-Encoding: chunked"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        sock.setblocking(False)
        answer = b""
        try:
            prefix = b'{"action": "store", "parameters": {"blob": "'
            sock.sendall(b"%x\r\n%s\r\n" % (len(prefix), prefix))
            while sent < total:
                try:
                    answer += sock.recv(65536)
                    if answer:
                        break
                except BlockingIOError:
                    pass
                sock.setblocking(True)
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sock.setblocking(False)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading and closed: its answer is already on the way
        sock.setblocking(True)
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    status = int(answer.split(b" ", 2)[1])
    return status, sent


def test_a_chunked_body_is_cut_at_the_limit_before_anyone_is_signed_in(live_api):
    limit = get_settings().max_payload_bytes
    total = 256 * limit  # 64 MB
    status, sent = send_chunked(live_api, "/api/activity/sessions/close", {}, total)
    assert status == 413
    # The answer came long before the end: the server stopped reading at the limit (what was
    # sent past it sits in the kernel's socket buffers, a few MB on loopback).
    assert sent < total // 4


def test_an_agent_cannot_store_a_chunked_body_past_the_limit(live_api, now):
    agent = make_agent(now)
    limit = get_settings().max_payload_bytes
    status, _ = send_chunked(
        live_api,
        "/api/v1/actions",
        {"Authorization": f"Bearer {agent.api_key}", "Content-Type": "application/json"},
        8 * limit,
    )
    assert status == 413
    with read_scope() as session:
        assert session.exec(select(ActionRequest)).all() == []


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"deeper": value}
    return value


def test_parameters_nested_past_the_limit_are_refused_naming_the_field(client, now):
    agent = make_agent(now)
    headers = {"Authorization": f"Bearer {agent.api_key}"}
    fine = client.post(
        "/api/v1/actions",
        json={"action": "store", "parameters": nested(MAX_DEPTH)},
        headers=headers,
    )
    assert fine.status_code == 200, fine.text
    deep = client.post(
        "/api/v1/actions",
        json={"action": "store", "parameters": nested(300)},
        headers=headers,
    )
    assert deep.status_code == 422
    assert deep.json()["field"] == "parameters"
    assert f"nested deeper than {MAX_DEPTH} levels" in deep.json()["detail"]
    wide = client.post(
        "/api/v1/actions",
        json={"action": "store", "parameters": {"items": list(range(30_000))}},
        headers=headers,
    )
    assert wide.status_code == 422 and wide.json()["field"] == "parameters"
    with read_scope() as session:
        assert len(session.exec(select(ActionRequest)).all()) == 1  # only the fine one


def test_event_data_nested_past_the_limit_is_refused_naming_the_field(client, now):
    agent = make_agent(now)
    headers = {"Authorization": f"Bearer {agent.api_key}"}
    run = client.post("/api/v1/actions", json={"action": "work"}, headers=headers).json()
    url = f"/api/v1/executions/{run['execution_id']}/events"
    for event, field in (
        ({"type": "log", "message": "m", "data": nested(60)}, "events.0.log.data"),
        ({"type": "output", "kind": "json", "data": [nested(60)]}, "events.0.output.data"),
        ({"type": "completed", "result": nested(60)}, "events.0.completed.result"),
    ):
        refused = client.post(url, json={"events": [event]}, headers=headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == field


def test_a_crash_answers_json_with_the_request_id_never_text(database, now, monkeypatch):
    from starlette.testclient import TestClient

    from services import agent_work

    def broken(**_kwargs):
        raise RuntimeError("secret detail: db password is hunter2")

    monkeypatch.setattr(agent_work, "offer_work", broken)
    agent = make_agent(now)
    with TestClient(build_api(), raise_server_exceptions=False) as client:
        response = client.get(
            "/api/v1/agents/me/work",
            headers={"Authorization": f"Bearer {agent.api_key}", "X-Request-ID": "trace-42"},
        )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["request_id"] == "trace-42"
    assert response.headers["x-request-id"] == "trace-42"
    assert "hunter2" not in response.text


@pytest.mark.parametrize(
    "forged", ['=HYPERLINK("http://evil.example","x")', "a\tb", "<script>", "x" * 65]
)
def test_a_forged_request_id_is_replaced_at_the_edge(client, forged):
    response = client.get("/api/health", headers={"X-Request-ID": forged})
    replaced = response.headers["x-request-id"]
    assert replaced != forged and len(replaced) == 32 and replaced.isalnum()


def test_a_plain_request_id_is_kept(client):
    assert (
        client.get("/api/health", headers={"X-Request-ID": "job-7.retry_2"}).headers["x-request-id"]
        == "job-7.retry_2"
    )


def test_json_errors_stay_json(client):
    response = client.post(
        "/api/v1/actions", content=b"[" * 100_000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 401, 422)
    json.loads(response.text)


def _login(address, username: str, password: str) -> int:
    import httpx

    host, port = address
    return httpx.post(
        f"http://{host}:{port}/api/auth/login",
        json={"username": username, "password": password},
        timeout=30,
    ).status_code


def test_parallel_guesses_are_counted_before_any_password_is_checked(live_api, now):
    """40 guesses at once for one user: only the limit's worth are checked at all."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.factories import make_user

    victim = make_user(now)
    limit = get_settings().login_attempts_per_15_min
    with ThreadPoolExecutor(40) as pool:
        statuses = list(
            pool.map(lambda i: _login(live_api, victim.username, f"guess {i}"), range(40))
        )
    assert statuses.count(401) <= limit
    assert statuses.count(429) == 40 - statuses.count(401)


def test_one_address_cannot_spray_many_usernames(live_api, now):
    per_address = get_settings().login_attempts_per_address_15_min
    statuses = [_login(live_api, f"user{i}", "Winter2026!") for i in range(per_address + 5)]
    assert statuses[:per_address] == [401] * per_address
    assert statuses[per_address:] == [429] * 5


def test_a_spray_checks_passwords_a_few_at_a_time(live_api, now, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from services import security, sign_in

    lock, running = threading.Lock(), {"now": 0, "most": 0}
    real_verify = security.verify_password

    def counted(password_hash, password):
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        try:
            time.sleep(0.05)  # a slower hash, so that overlaps would show
            return real_verify(password_hash, password)
        finally:
            with lock:
                running["now"] -= 1

    monkeypatch.setattr("services.users.verify_password", counted)
    with ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(lambda i: _login(live_api, f"nobody{i}", "x"), range(30)))
    assert set(statuses) <= {401, 429}
    assert 1 <= running["most"] <= sign_in.HASH_SLOTS


def test_a_lockout_outlives_a_restart(client, now):
    from services import sign_in
    from tests.factories import PASSWORD, make_user

    user = make_user(now)
    limit = get_settings().login_attempts_per_15_min
    wrong = {"username": user.username, "password": "not it"}
    for _ in range(limit):
        assert client.post("/api/auth/login", json=wrong).status_code == 401
    sign_in.clear()  # what a restart does to the counts in memory
    right = {"username": user.username, "password": PASSWORD}
    locked = client.post("/api/auth/login", json=right)
    assert locked.status_code == 429, locked.text


def test_old_failures_are_forgotten(database, now):
    from services import sign_in_history
    from services.db import session_scope

    with session_scope() as session:
        sign_in_history.record_failure(session=session, keys=["address:1.2.3.4"], now=now)
    with session_scope() as session:
        assert sign_in_history.forget_old(session=session, now=now) == 0
        assert sign_in_history.recent_failures(session=session, now=now) != []
    later = now + sign_in_history.KEEP
    with session_scope() as session:
        assert sign_in_history.forget_old(session=session, now=later) == 1


def test_numbers_that_json_cannot_hold_are_refused(client, now):
    agent = make_agent(now)
    response = client.post(
        "/api/v1/actions",
        content=b'{"action": "store", "parameters": {"a": NaN, "b": Infinity}}',
        headers={"Authorization": f"Bearer {agent.api_key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["field"] == "parameters"


def test_early_refusals_carry_the_request_id_and_the_security_headers(client):
    refused = client.post(
        "/api/auth/login",
        content=b"{}",
        headers={"Origin": "https://evil.example", "X-Request-ID": "probe-1"},
    )
    assert refused.status_code == 403
    assert refused.headers["x-request-id"] == "probe-1"
    assert "frame-ancestors 'none'" in refused.headers["content-security-policy"]
