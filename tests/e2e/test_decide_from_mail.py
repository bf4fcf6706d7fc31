"""Deciding from a phone, from an e-mail: a real SMTP server (aiosmtpd, started here) receives
the notice the app sends when a proposal asks its supervisor; the test follows the mail's
Approve link in Chromium, not signed in, approves, and a second click says it was used."""

from __future__ import annotations

import re
import socket
import time
from email import message_from_bytes

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, Page, expect

from supervision_app.client import SupervisionClient
from tests.e2e.conftest import PASSWORD, RunningApp, make_agent_key, make_supervisor, sign_in

pytestmark = pytest.mark.usefixtures("admin_account")
LINK = re.compile(r"(https?://\S+/decide/svl_[A-Za-z0-9_-]+)")


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"

    def wait_for(self, address: str, seconds: float = 30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for to, mail in self.messages:
                if address in to:
                    return mail
            time.sleep(0.2)
        raise AssertionError(f"no mail to {address} within {seconds} s")


@pytest.fixture
def mailbox():
    box = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def api(app: RunningApp, username: str, password: str) -> httpx.Client:
    token = httpx.post(
        f"{app.url}/api/auth/login", json={"username": username, "password": password}
    ).json()["token"]
    return httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {token}"})


def test_approve_from_the_mails_link_on_a_phone_once(
    page: Page, browser: Browser, running_app: RunningApp, admin_account, mailbox
):
    box, port = mailbox
    make_supervisor(running_app, "maya")
    admin = api(running_app, *admin_account)
    channel = admin.post(
        "/api/escalation/channels",
        json={
            "name": "team mail",
            "kind": "email",
            "target": "supervision@example.com",
            "settings": {"host": "127.0.0.1", "port": port, "tls": "none"},
        },
    )
    assert channel.status_code == 201, channel.text
    try:
        maya = api(running_app, "maya", PASSWORD)
        maya_id = maya.get("/api/auth/me").json()["id"]
        assert maya.put(
            f"/api/escalation/users/{maya_id}/email", json={"email": "maya@example.com"}
        ).is_success
        sign_in(page, running_app, "maya", PASSWORD)  # at her desk: online, so she is asked
        bot = SupervisionClient(
            running_app.url, make_agent_key(running_app, "mail-intern", "INTERN", "maya")
        )
        assert bot.act("tag_tickets", {"tag": "vip"}, reason="mark VIP tickets").decision == (
            "proposed"
        )

        mail = box.wait_for("maya@example.com")
        assert "tag_tickets" in mail["Subject"]
        approve = LINK.findall(mail.get_payload(decode=True).decode())[0]

        phone = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
        phone.goto(approve)  # not signed in on the phone: a click decides a safe action
        expect(phone.get_by_role("heading", name=re.compile("Approve"))).to_be_visible()
        expect(phone.get_by_text("You decide as maya, to whom this link was sent.")).to_be_visible()
        phone.get_by_role("button", name="Approve").click()
        expect(phone.get_by_test_id("decide-done")).to_have_text(
            "Approved: the agent may start the run."
        )
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360

        phone.goto(approve)  # the same link again
        expect(phone.get_by_test_id("decide-problem")).to_have_text("This link was already used.")
        phone.context.close()
        approvals = admin.get("/api/audit", params={"action": "proposal.approved"}).json()
        assert any(
            event["after"].get("via") == "email:team mail" and event["actor_name"] == "maya"
            for event in approvals
        ), approvals
    finally:
        admin.delete(f"/api/escalation/channels/{channel.json()['id']}")
