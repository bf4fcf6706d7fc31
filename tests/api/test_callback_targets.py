"""An agent cannot make the server call what only the server can reach (#16, item 3): its
callback URL is refused when its host leads to a loopback, private, link-local, multicast or
reserved address, when registered and again at every delivery (DNS rebinding), unless an
admin allowed the host; the change is audited without the URL's secret parts."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import col, select

from models import Agent, AuditEvent, Notification
from services import agents as agent_service
from services import callback_delivery, notifications
from services.actors import Actor
from services.clock import utcnow
from services.config import get_settings
from services.db import read_scope, session_scope
from services.outbound_urls import CallbackTargets, check_callback_url
from tests.api.conftest import sign_in
from tests.factories import make_agent, make_user


@pytest.fixture(autouse=True)
def allowed_hosts(monkeypatch):
    """Nothing allowed besides public hosts, unless a test says otherwise."""

    def allow(value: str) -> None:
        monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", value)
        get_settings.cache_clear()

    allow("")
    yield allow
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://2130706433/hook",  # 127.0.0.1 written as a number
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://224.0.0.1/hook",
        "http://user:pw@93.184.216.34/hook",
        "http://no-such-host.invalid/hook",
        "http://\u00be\u00e7\u0096\u00ea\u00ff./hook",  # not a name the resolver can encode
        "http://[2002:7f00:1::1]/hook",  # 6to4 wrapping 127.0.0.1
        "http://[fec0::1]/hook",  # deprecated site-local
        "http://192.88.99.1/hook",  # 6to4 relay anycast
    ],
)
def test_an_agent_cannot_point_its_callback_inside(client, now, url):
    agent = make_agent(now)
    response = client.put(
        "/api/v1/agents/me/callback",
        json={"url": url},
        headers={"Authorization": f"Bearer {agent.api_key}"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "url"
    with read_scope() as session:
        assert session.get(Agent, agent.agent.id).callback_url is None


def test_a_public_callback_is_accepted_and_audited_without_its_secret_path(client, now):
    agent = make_agent(now)
    url = "https://93.184.216.34/hooks/T000/SECRET-TOKEN"
    response = client.put(
        "/api/v1/agents/me/callback",
        json={"url": url},
        headers={"Authorization": f"Bearer {agent.api_key}"},
    )
    assert response.status_code == 200, response.text
    with read_scope() as session:
        event = session.exec(
            select(AuditEvent)
            .where(AuditEvent.object_type == "agent", AuditEvent.action == "agent.updated")
            .order_by(col(AuditEvent.id).desc())
        ).first()
    assert event.before["callback"] is None
    assert event.after["callback"].startswith("https://93.184.216.34/… (sha256 ")
    assert "SECRET-TOKEN" not in str(event.after)


def test_an_admin_cannot_register_an_agent_with_an_inside_callback(client, now):
    admin = make_user(now, role="admin")
    response = client.post(
        "/api/agents",
        json={
            "name": "ssrf-bot",
            "category": "ops",
            "maturity_level": "AUTONOMOUS",
            "callback_url": "http://169.254.169.254/latest/meta-data/",
        },
        headers=sign_in(client, admin.username),
    )
    assert response.status_code == 422 and response.json()["field"] == "callback_url"


def test_an_admin_may_allow_a_receiver_on_this_machine(client, now, allowed_hosts):
    allowed_hosts("127.0.0.1, receiver.lan")
    agent = make_agent(now)
    response = client.put(
        "/api/v1/agents/me/callback",
        json={"url": "http://127.0.0.1:8080/hook"},
        headers={"Authorization": f"Bearer {agent.api_key}"},
    )
    assert response.status_code == 200, response.text


class Receiver:
    def __init__(self):
        self.hosts: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hosts.append(self.headers["Host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_port

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def agent_with_callback(url: str, resolves_to: str) -> int:
    """An agent whose callback's name resolved to `resolves_to` when it was registered."""
    checked = check_callback_url(url, CallbackTargets(), lambda _host, _port: [resolves_to])
    now = utcnow()
    with session_scope() as session:
        agent = agent_service.create_agent(
            session=session,
            name=f"rebind-{resolves_to}-{now.timestamp()}",
            category="ops",
            maturity_level="AUTONOMOUS",
            now=now,
            actor=Actor.system(),
            callback_url=checked,
        )
        notifications.notify_agent(
            session=session, agent_id=agent.agent.id, event="proposal.approved", payload={}, now=now
        )
    return agent.agent.id


def only_notification() -> Notification:
    with read_scope() as session:
        [row] = session.exec(select(Notification)).all()
    return row


def test_a_name_that_resolves_inside_at_delivery_is_refused_there(database, monkeypatch):
    receiver = Receiver()
    try:
        # Public when registered; the attacker's name server now answers 127.0.0.1.
        agent_with_callback(f"http://rebind.test:{receiver.port}/hook", "93.184.216.34")
        monkeypatch.setattr(callback_delivery, "resolver", lambda _h, _p: ["127.0.0.1"])
        assert callback_delivery.deliver_due(timeout_s=5) == 1
    finally:
        receiver.close()
    assert receiver.hosts == []  # nothing was sent
    row = only_notification()
    assert row.delivered_at is None
    assert row.last_error.startswith("refused:") and "loopback" in row.last_error


def test_a_delivery_goes_to_the_checked_address_with_the_names_host_header(
    database, monkeypatch, allowed_hosts
):
    allowed_hosts("127.0.0.1")
    receiver = Receiver()
    try:
        agent_with_callback(f"http://rebind.test:{receiver.port}/hook", "93.184.216.34")
        monkeypatch.setattr(callback_delivery, "resolver", lambda _h, _p: ["127.0.0.1"])
        assert callback_delivery.deliver_due(timeout_s=5) == 1
    finally:
        receiver.close()
    assert receiver.hosts == [f"rebind.test:{receiver.port}"]
    assert only_notification().delivered_at is not None


def test_a_name_server_that_never_answers_holds_up_nothing(database, monkeypatch):
    blocked, finished, release = threading.Event(), threading.Event(), threading.Event()

    def stuck_name_server(_host, _port):
        blocked.set()
        release.wait(20)
        finished.set()
        return ["93.184.216.34"]

    agent_with_callback("http://slow-dns.test/hook", "93.184.216.34")
    monkeypatch.setattr(callback_delivery, "resolver", stuck_name_server)
    try:
        assert callback_delivery.deliver_due(timeout_s=0.5) == 1
        # The batch ended while the lookup still hung: nothing waited for it.
        assert blocked.is_set() and not finished.is_set()
    finally:
        release.set()
    assert only_notification().last_error == "no answer within 0.5 s"


def test_only_admins_see_a_callback_url_whole(client, now):
    admin, viewer = make_user(now, role="admin"), make_user(now, role="viewer")
    agent = make_agent(now)
    url = "http://93.184.216.34/hook?token=s3cret"
    client.put(
        "/api/v1/agents/me/callback",
        json={"url": url},
        headers={"Authorization": f"Bearer {agent.api_key}"},
    )
    path = f"/api/agents/{agent.agent.id}"
    seen_by_viewer = client.get(path, headers=sign_in(client, viewer.username)).json()
    assert "s3cret" not in str(seen_by_viewer)
    assert seen_by_viewer["callback_url"].startswith("http://93.184.216.34/…")
    listed = client.get("/api/agents", headers=sign_in(client, viewer.username)).json()
    assert "s3cret" not in str(listed)
    assert client.get(path, headers=sign_in(client, admin.username)).json()["callback_url"] == url


def test_a_slow_name_server_at_registration_is_given_up_on(monkeypatch):
    import time as clock

    from services import outbound_urls
    from services.errors import InvalidInput

    monkeypatch.setattr(outbound_urls, "LOOKUP_TIMEOUT_S", 0.2)
    monkeypatch.setattr(outbound_urls, "system_resolver", lambda *_: clock.sleep(3) or [])
    with pytest.raises(InvalidInput) as refused:
        check_callback_url("http://slow.test/hook", CallbackTargets())
    assert "no answer from the name server" in refused.value.message
