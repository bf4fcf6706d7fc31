"""Notices: telling the people a proposal asks that it waits for them, with links to decide.

A notice is written (outbox) in the transaction of the escalation move that asks someone, one
per chat channel and one per e-mail address; the delivery job (services/notice_delivery.py)
claims it, makes its one-time links (services/decision_links.py) and its message in a short
transaction, sends with no transaction open, and records the result. A notice whose proposal
was decided, or whose step has passed, is dropped unsent. A dead channel only delays notices:
the chain moves on by its own clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import update
from sqlmodel import Session, col, select

from models import Agent, Proposal, ProposalStatus, User
from models.escalation import NotificationChannel, OutgoingNotice
from services.decision_links import issue_links

MAX_ATTEMPTS = 6
BACKOFF = timedelta(seconds=15)
# A batch (at most BATCH notices: two rounds of the e-mail workers, each SMTP step cut at
# 10 s) ends well inside the claim; a claim that lapsed anyway is fenced (record_result).
CLAIM_LEASE = timedelta(seconds=120)
BATCH = 16


def enqueue_notices(
    *, session: Session, proposal_id: int, user_ids: list[int], expires_at: datetime, now: datetime
) -> int:
    """Queue the notices of one move: every enabled chat channel once, and every enabled
    e-mail channel once per asked person with an address."""
    channels = session.exec(
        select(NotificationChannel).where(NotificationChannel.enabled == True)  # noqa: E712
    ).all()
    if not channels:
        return 0
    emails = dict(
        session.execute(
            select(User.id, User.email).where(
                col(User.id).in_(user_ids),
                col(User.email).is_not(None),
                User.is_active == True,  # noqa: E712
            )
        ).all()
    )
    queued = 0
    for channel in channels:
        recipients: list[int | None] = [None] if channel.kind == "webhook" else list(emails)
        for user_id in recipients:
            session.add(
                OutgoingNotice(
                    channel_id=channel.id or 0,
                    proposal_id=proposal_id,
                    user_id=user_id,
                    expires_at=expires_at,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            queued += 1
    return queued


def claim_due(*, session: Session, now: datetime, limit: int = BATCH) -> list[int]:
    """Notices due now, claimed (their next attempt pushed out by the lease, which is the
    claim: `record_result` writes only while it is unchanged): ids."""
    due = session.exec(
        select(OutgoingNotice.id)
        .where(
            col(OutgoingNotice.sent_at).is_(None),
            col(OutgoingNotice.failed_at).is_(None),
            col(OutgoingNotice.next_attempt_at) <= now,
        )
        .order_by(col(OutgoingNotice.id))
        .limit(limit)
    ).all()
    claimed = []
    for notice_id in due:
        won = session.execute(
            update(OutgoingNotice)
            .where(
                col(OutgoingNotice.id) == notice_id,
                col(OutgoingNotice.sent_at).is_(None),
                col(OutgoingNotice.next_attempt_at) <= now,
            )
            .values(next_attempt_at=now + CLAIM_LEASE)
        ).rowcount
        if won:
            claimed.append(notice_id)
    return claimed


@dataclass(frozen=True)
class Message:
    """A notice ready to send: no session, nothing secret but the links in it."""

    notice_id: int
    channel_id: int
    channel: str
    kind: str  # webhook | email
    target: str  # webhook URL, or sender address
    settings: dict[str, object]
    recipient: str | None
    subject: str
    text: str
    claimed_until: datetime | None = None

    def webhook_body(self) -> bytes:
        """The body Slack and Mattermost incoming webhooks accept."""
        return json.dumps({"text": self.text}).encode()

    def email(self) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.target
        mail["To"] = self.recipient or ""
        mail["Subject"] = self.subject
        mail.set_content(self.text)
        return mail


def _chat_quote(text: str, limit: int) -> str:
    """Agents' words in a chat message, shown as code: no links, mentions or formatting of
    their own (`<!channel>`, `@all`, `[Approve](…)` stay text), on one line."""
    flat = " ".join(text.split())[:limit]
    return flat.replace("`", "ʼ").replace("<", "‹").replace(">", "›") or " "


def _mail_quote(text: str) -> str:
    """Agents' words in a mail: every line quoted, after the real links."""
    return "\n".join(f"> {line}" for line in text.splitlines()[:40]) or "> (none)"


def compose(
    *, session: Session, notice_id: int, now: datetime, site_url: str, sign_in_for: str
) -> Message | None:
    """The notice's message with fresh links; None (and the notice dropped) when there is
    nothing left to ask: the proposal was decided, or the step that asked has passed."""
    notice = session.get(OutgoingNotice, notice_id)
    if notice is None or notice.sent_at is not None:
        return None
    proposal = session.get(Proposal, notice.proposal_id)
    channel = session.get(NotificationChannel, notice.channel_id)
    user = session.get(User, notice.user_id) if notice.user_id else None
    stale = (
        proposal is None
        or proposal.status != ProposalStatus.PENDING
        or notice.expires_at <= now
        or channel is None
        or not channel.enabled
        or (notice.user_id is not None and (user is None or not user.email))
    )
    if stale:
        notice.sent_at, notice.last_error = now, "not sent: nothing left to ask"
        session.add(notice)
        return None
    assert proposal is not None and channel is not None
    agent = session.get(Agent, proposal.agent_id)
    risk = proposal.risk or str((proposal.chain or {}).get("risk", "high"))
    channel_name = f"{channel.kind}:{channel.name}"
    links = issue_links(
        session=session,
        proposal=proposal,
        user_id=notice.user_id,
        channel=channel_name,
        expires_at=notice.expires_at,
        requires_sign_in=sign_in_for == "always" or risk == "high",
        now=now,
        site_url=site_url,
    )
    who = agent.name if agent else "an agent"
    until = notice.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    sign_in = risk == "high" or sign_in_for == "always"
    # Agents name their actions: the subject gets a plain, short form.
    action = " ".join(proposal.action.split())[:80]
    subject = f"Proposal {proposal.id} waits for you: {action} from {who}"
    parameters = json.dumps(proposal.parameters, indent=2, sort_keys=True, default=str)
    if channel.kind == "webhook":
        text = (
            f"Proposal {proposal.id} waits for a decision until {until} ({risk} risk): "
            f"<{links['approve']}|Approve> · <{links['reject']}|Reject> · "
            f"<{links['open']}|Open in the dashboard> (sign-in needed)\n"
            f"Agent `{_chat_quote(who, 80)}` asks to run `{_chat_quote(proposal.action, 120)}`; "
            f"its reason: `{_chat_quote(proposal.reason, 300)}`"
        )
    else:
        text = (
            f"Proposal {proposal.id} waits for you until {until} ({risk} risk).\n\n"
            f"Approve: {links['approve']}\nReject: {links['reject']}\n"
            f"Open in the dashboard: {links['open']}\n\n"
            "Each link works once, and only until then. "
            + (
                "You will be asked to sign in before you decide.\n\n"
                if sign_in
                else "A link shows the proposal first; you decide on that page.\n\n"
            )
            + "What the agent sent (its own words, not ours):\n"
            f"> agent: {who}\n> action: {action}\n"
            f"{_mail_quote('reason: ' + proposal.reason)}\n"
            f"{_mail_quote('parameters: ' + parameters)}\n"
        )
    return Message(
        notice_id=notice_id,
        channel_id=channel.id or 0,
        channel=channel_name,
        kind=channel.kind,
        target=channel.target,
        settings=dict(channel.settings),
        recipient=user.email if user else None,
        subject=subject,
        text=text,
        claimed_until=notice.next_attempt_at,
    )


def record_result(
    *,
    session: Session,
    notice_id: int,
    now: datetime,
    error: str | None,
    claimed_until: datetime | None = None,
) -> bool:
    """Sent, or retried with backoff until MAX_ATTEMPTS; the channel shows its last error.
    Only while the claim it was sent under holds (`claimed_until`); False otherwise."""
    notice = session.get(OutgoingNotice, notice_id)
    if notice is None or notice.sent_at is not None:
        return False
    if claimed_until is not None and notice.next_attempt_at != claimed_until:
        return False  # the claim lapsed and another worker took it
    channel = session.get(NotificationChannel, notice.channel_id)
    notice.attempts += 1
    if error is None:
        notice.sent_at, notice.last_error = now, None
        if channel is not None:
            channel.last_sent_at, channel.last_error = now, None
    else:
        notice.last_error = error[:500]
        if notice.attempts >= MAX_ATTEMPTS or now + BACKOFF >= notice.expires_at:
            notice.failed_at = now
        else:
            notice.next_attempt_at = now + BACKOFF * (2 ** (notice.attempts - 1))
        if channel is not None:
            channel.last_error = f"{now:%Y-%m-%d %H:%M} UTC: {error}"[:500]
    session.add(notice)
    if channel is not None:
        session.add(channel)
    return True
