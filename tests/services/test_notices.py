"""Notices and their one-time links, against a real HTTP receiver (the chat webhook) and a real
SMTP server (aiosmtpd, started here): what arrives, who may use a link, and every way a link
is refused — forged, replayed, expired, for changed parameters, unsigned for a high-risk
action. A dead channel delays notices and nothing else."""

from __future__ import annotations

import json
import re
import socket
import threading
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update
from sqlmodel import select

from models import AuditEvent, Proposal
from models.escalation import OutgoingNotice
from services import decision_links, governance, notice_channels, notice_delivery
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.decision_links import LinkRefused, SignInNeeded
from services.errors import Conflict, InvalidInput, PermissionDenied
from services.governance import ActionInput, GovernancePolicy
from services.outbound_urls import CallbackTargets
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import appear_online, make_agent, make_user

pytestmark = pytest.mark.usefixtures("database", "callback_receivers_on_this_machine")
GOVERNANCE = GovernancePolicy(
    presence=RULES,
    proposal_ttl=timedelta(hours=24),
    queue_ttl=timedelta(hours=24),
    queue_max_attempts=3,
)
LOCAL = CallbackTargets.parse(["127.0.0.1"])
LINK = re.compile(r"https?://[^\s|>]+/decide/(svl_[A-Za-z0-9_-]+)")


class ChatReceiver:
    """A chat server's incoming webhook: keeps each body, answers `status`."""

    def __init__(self, status: int = 200):
        self.bodies: list[dict] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/secret-key"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """aiosmtpd's handler: keeps every message."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def chat():
    receiver = ChatReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def smtp():
    mailbox = Mailbox()
    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, controller.port
    controller.stop()


@pytest.fixture
def team():
    now = utcnow()
    admin = make_user(now, role="admin")
    sam = make_user(now)
    with session_scope() as session:
        appear_online(session, sam.id, now)
        notice_channels.set_my_email(
            session=session, caller=sam, user_id=sam.id, email="sam@example.com", now=now
        )
    intern = make_agent(now, level="INTERN", supervisor_id=sam.id)
    return admin, sam, intern


def add_channel(admin, kind, target, **settings):
    with session_scope() as session:
        return notice_channels.add_channel(
            session=session,
            caller=admin,
            name=f"{kind}-{target[-12:]}",
            kind=kind,
            target=target,
            settings=settings,
            targets=LOCAL,
            now=utcnow(),
        )


def propose(agent, action="tag_tickets", parameters=None, reason="sort the queue"):
    with session_scope() as session:
        decision = governance.route_action(
            session=session,
            agent=agent.agent,
            request=ActionInput(
                action=action, parameters=parameters or {"tag": "x"}, reason=reason
            ),
            now=utcnow(),
            policy=GOVERNANCE,
        )
    return decision.proposal_id


def tokens(text: str) -> list[str]:
    return LINK.findall(text)


def use(token, caller=None, reason=""):
    with session_scope() as session:
        return decision_links.use_link(
            session=session, token=token, now=utcnow(), caller=caller, reason=reason
        )


def status_of(proposal_id):
    with read_scope() as session:
        return session.get(Proposal, proposal_id).status


def test_the_chat_channel_gets_a_slack_shaped_message_whose_links_need_a_sign_in(team, chat):
    admin, sam, intern = team
    add_channel(admin, "webhook", chat.url)
    proposal_id = propose(
        intern,
        action="tag_<!channel>_tickets",
        reason="fine\n@all [Approve](https://evil.example) <https://evil.example|Approve> `x`",
    )
    assert notice_delivery.deliver_due() == 1
    [body] = chat.bodies
    assert set(body) == {"text"}
    text = body["text"]
    assert f"Proposal {proposal_id}" in text
    # The agent's words arrive as code on one line: no mention, link or formatting of theirs.
    assert "<!channel>" not in text and text.count("<http") == 3  # our three links only
    quoted = text.split("its reason: ", 1)[1]
    assert (
        quoted.startswith("`fine @all [Approve](https://evil.example)") and quoted.count("`") == 2
    )
    approve, reject, open_ = tokens(body["text"])
    with pytest.raises(SignInNeeded):
        use(approve)  # a team channel's link: anyone in the channel could click it
    assert use(approve, caller=sam).status == "approved"
    with read_scope() as session:
        [approved] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "proposal.approved")
        ).all()
    assert approved.after["via"].startswith("webhook:")
    with pytest.raises(LinkRefused, match="already"):
        use(reject, caller=sam, reason="no")


def test_an_email_link_decides_once_for_its_recipient(team, smtp):
    admin, sam, intern = team
    mailbox, port = smtp
    add_channel(admin, "email", "supervision@example.com", host="127.0.0.1", port=port, tls="none")
    proposal_id = propose(intern)
    assert notice_delivery.deliver_due() == 1
    [(to, mail)] = mailbox.messages
    assert to == ["sam@example.com"]
    assert mail["Subject"].startswith(f"Proposal {proposal_id} waits for you: tag_tickets")
    approve, _reject, _open = tokens(mail.get_payload(decode=True).decode())
    with session_scope() as session:
        shown = decision_links.preview(session=session, token=approve, now=utcnow())
    assert shown.action == "approve" and not shown.requires_sign_in  # not high risk
    assert status_of(proposal_id) == "pending"  # opening a link decides nothing
    decided = use(approve)  # a click alone, as the person it was sent to
    assert decided.status == "approved" and decided.decided_by_user_id == sam.id
    with pytest.raises(LinkRefused, match="already used"):
        use(approve)


def test_a_high_risk_action_is_never_decided_by_a_click_alone(team, smtp):
    admin, sam, intern = team
    mailbox, port = smtp
    add_channel(admin, "email", "supervision@example.com", host="127.0.0.1", port=port, tls="none")
    proposal_id = propose(intern, action="delete_customer_records", parameters={"all": True})
    notice_delivery.deliver_due()
    approve, reject, _ = tokens(mailbox.messages[0][1].get_payload(decode=True).decode())
    with pytest.raises(SignInNeeded):
        use(approve)
    stranger = make_user(utcnow())
    with pytest.raises(PermissionDenied):
        use(approve, caller=stranger)  # signed in, but not someone this proposal asked
    with pytest.raises(InvalidInput):
        use(reject, caller=sam)  # a rejection says why
    assert use(reject, caller=sam, reason="not all of them").status == "rejected"
    assert status_of(proposal_id) == "rejected"


def test_forged_expired_and_out_of_date_links_are_refused(team, smtp):
    admin, sam, intern = team
    mailbox, port = smtp
    add_channel(admin, "email", "supervision@example.com", host="127.0.0.1", port=port, tls="none")
    first, second = propose(intern), propose(intern)
    notice_delivery.deliver_due()
    links = {}
    for _, mail in mailbox.messages:
        text = mail.get_payload(decode=True).decode()
        links[int(re.search(r"Proposal (\d+)", mail["Subject"]).group(1))] = tokens(text)[0]

    with pytest.raises(LinkRefused, match="not valid"):
        use("svl_" + "A" * 43)  # forged: never issued
    with pytest.raises(LinkRefused, match="not valid"):
        use(links[first][:-1] + ("A" if links[first][-1] != "A" else "B"))  # tampered

    with session_scope() as session:  # the proposal's parameters changed since it was sent
        session.execute(
            update(Proposal).where(Proposal.id == first).values(parameters={"tag": "all"})
        )
    with pytest.raises(LinkRefused, match="changed"):
        use(links[first])

    with session_scope() as session:
        step_end = session.get(Proposal, second).step_deadline
    with session_scope() as session, pytest.raises(LinkRefused, match="expired"):
        decision_links.use_link(
            session=session, token=links[second], now=step_end + timedelta(seconds=1), caller=None
        )
    assert status_of(first) == status_of(second) == "pending"


def test_a_dead_channel_is_retried_and_changes_nothing_else(team):
    admin, sam, intern = team
    dead = ChatReceiver(status=500)
    try:
        add_channel(admin, "webhook", dead.url)
        proposal_id = propose(intern)
        assert notice_delivery.deliver_due() == 1
        with read_scope() as session:
            notice = session.exec(select(OutgoingNotice)).one()
            channel = notice_channels.list_channels(session=session)[0]
        assert notice.sent_at is None and notice.attempts == 1 and notice.last_error == "HTTP 500"
        assert "HTTP 500" in channel.last_error
        assert "secret-key" not in channel.target  # the webhook's secret is never shown
        assert notice_delivery.deliver_due() == 0  # not before its backoff
        assert status_of(proposal_id) == "pending"
    finally:
        dead.close()


def test_channels_that_cannot_work_are_refused(team):
    admin, sam, _ = team
    for kind, target, settings, field in (
        ("webhook", "http://10.0.0.1/hook", {}, "target"),  # private, not allowed
        ("webhook", "not a url", {}, "target"),
        ("email", "not-an-address", {"host": "smtp.example.com"}, "target"),
        ("email", "a@example.com", {"host": ""}, "host"),
        ("email", "a@example.com", {"host": "smtp.example.com", "port": 0}, "port"),
        ("email", "a@example.com", {"host": "smtp.example.com", "tls": "maybe"}, "tls"),
        ("pager", "a@example.com", {}, "kind"),
    ):
        with session_scope() as session, pytest.raises(InvalidInput) as error:
            notice_channels.add_channel(
                session=session,
                caller=admin,
                name="x",
                kind=kind,
                target=target,
                settings=settings,
                targets=LOCAL,
                now=utcnow(),
            )
        assert error.value.field == field, (kind, target)
    with session_scope() as session, pytest.raises(PermissionDenied):
        notice_channels.add_channel(
            session=session,
            caller=sam,
            name="x",
            kind="email",
            target="a@example.com",
            settings={"host": "h"},
            targets=LOCAL,
            now=utcnow(),
        )
    add_channel(admin, "email", "a@example.com", host="h")
    with session_scope() as session, pytest.raises(Conflict):
        notice_channels.add_channel(
            session=session,
            caller=admin,
            name="email-@example.com",  # the name add_channel gave the first
            kind="email",
            target="a@example.com",
            settings={"host": "h"},
            targets=LOCAL,
            now=utcnow(),
        )


def test_a_broken_mail_server_neither_resends_the_chat_nor_hides_its_error(team, chat, monkeypatch):
    admin, sam, intern = team
    add_channel(admin, "webhook", chat.url)
    add_channel(admin, "email", "supervision@example.com", host="127.0.0.1", port=9, tls="none")

    def broken(*_args, **_kwargs):
        raise UnicodeError("label empty or too long")  # what a bad host name raises

    monkeypatch.setattr(notice_delivery.smtplib, "SMTP", broken)
    propose(intern)
    assert notice_delivery.deliver_due() == 2
    with read_scope() as session:
        notices = {n.user_id: n for n in session.exec(select(OutgoingNotice)).all()}
        channels = {c.kind: c for c in notice_channels.list_channels(session=session)}
    assert notices[None].sent_at is not None  # the chat message went, and is not sent again
    assert notices[sam.id].attempts == 1 and "UnicodeError" in notices[sam.id].last_error
    assert "UnicodeError" in channels["email"].last_error
    later = utcnow() + timedelta(minutes=10)
    notice_delivery.deliver_due(now=later)
    assert len(chat.bodies) == 1


def test_a_signed_in_reader_who_may_not_decide_is_shown_nothing(team, smtp):
    admin, sam, intern = team
    mailbox, port = smtp
    add_channel(admin, "email", "supervision@example.com", host="127.0.0.1", port=port, tls="none")
    propose(intern)
    notice_delivery.deliver_due()
    approve = tokens(mailbox.messages[0][1].get_payload(decode=True).decode())[0]
    viewer = make_user(utcnow(), role="viewer")
    with session_scope() as session, pytest.raises(PermissionDenied):
        decision_links.preview(session=session, token=approve, now=utcnow(), caller=viewer)
    with session_scope() as session:
        assert decision_links.preview(session=session, token=approve, now=utcnow(), caller=sam)


def test_a_result_sent_under_a_lapsed_claim_is_not_recorded(team, chat):
    from services import notices

    admin, sam, intern = team
    add_channel(admin, "webhook", chat.url)
    propose(intern)
    first = utcnow()
    with session_scope() as session:
        [notice_id] = notices.claim_due(session=session, now=first)
        old_claim = session.get(OutgoingNotice, notice_id).next_attempt_at
    later = first + notices.CLAIM_LEASE + timedelta(seconds=1)  # the first worker hung
    with session_scope() as session:
        assert notices.claim_due(session=session, now=later) == [notice_id]  # taken over
    with session_scope() as session:
        assert not notices.record_result(
            session=session, notice_id=notice_id, now=later, error=None, claimed_until=old_claim
        )
    with read_scope() as session:
        assert session.get(OutgoingNotice, notice_id).sent_at is None  # the new claim decides


def test_a_click_link_asks_for_a_sign_in_once_the_risk_rose_to_high(team, smtp):
    admin, sam, intern = team
    mailbox, port = smtp
    add_channel(admin, "email", "supervision@example.com", host="127.0.0.1", port=port, tls="none")
    proposal_id = propose(intern)
    notice_delivery.deliver_due()
    approve = tokens(mailbox.messages[0][1].get_payload(decode=True).decode())[0]
    with session_scope() as session:  # a review found more after the mail went
        session.get(Proposal, proposal_id).risk = "high"
    with pytest.raises(SignInNeeded):
        use(approve)
    assert status_of(proposal_id) == "pending"
