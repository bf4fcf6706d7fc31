"""An agent registers a callback URL and receives a signed POST when its proposal is decided."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from services.callback_delivery import deliver_due
from supervision_app.client import SupervisionClient, verify_signature
from tests.api.conftest import sign_in
from tests.factories import make_agent, make_user

pytestmark = pytest.mark.usefixtures("callback_receivers_on_this_machine")


def start_receiver():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def test_decision_reaches_the_agents_callback_signed(client, now):
    server, received = start_receiver()
    try:
        human = make_user(now)
        intern = make_agent(now, level="INTERN", supervisor_id=human.id)
        bot = SupervisionClient("http://testserver", intern.api_key, http=client)
        bot.register_callback(f"http://127.0.0.1:{server.server_port}/hook")
        decision = bot.act("export")
        response = client.post(
            f"/api/supervision/proposals/{decision.proposal_id}/approve",
            json={},
            headers=sign_in(client, human.username),
        )
        assert response.status_code == 200
        assert deliver_due() == 1
        [(headers, body)] = received
        assert headers["X-Supervision-Event"] == "proposal.approved"
        assert verify_signature(intern.webhook_secret, body, headers["X-Supervision-Signature"])
        assert deliver_due() == 0
    finally:
        server.shutdown()


def test_callback_url_must_be_http(client, now):
    agent = make_agent(now)
    response = client.put(
        "/api/v1/agents/me/callback",
        json={"url": "file:///etc/passwd"},
        headers={"Authorization": f"Bearer {agent.api_key}"},
    )
    assert response.status_code == 422 and response.json()["field"] == "url"
