"""Who is asked about a proposal, and in what order: escalation chains set by admins,
supervisors' delegates while away, the categories' weekly on-call hours, and everyone a
proposal has asked so far."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class EscalationChain(SQLModel, table=True):
    """One admin-defined chain: for a category ("category:<name>"), for one agent
    ("agent:<id>", overriding its category's), or for every category without one
    ("default"). Without any row the built-in chain applies (services/escalation.py)."""

    __tablename__ = "escalation_chains"

    scope: str = Field(sa_type=String(80), primary_key=True)
    # Ordered step kinds: supervisor, delegate, on_call, reviewer (each at most once).
    steps: list[str] = Field(default_factory=list, sa_type=JSON)
    final: str = Field(default="reject", sa_type=String(16))  # reject | wait
    # Minutes each step waits, by the action's risk: {"high": 5, "medium": 15, "safe": 60}.
    step_minutes: dict[str, int] = Field(default_factory=dict, sa_type=JSON)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by_user_id: int | None = Field(default=None, foreign_key="users.id")


class Delegation(SQLModel, table=True):
    """While `user_id` is away between the two dates, `delegate_id` is asked in their place."""

    __tablename__ = "delegations"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    delegate_id: int = Field(foreign_key="users.id", index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class OnCallShift(SQLModel, table=True):
    """Weekly hours one person is on call for a category, in a time zone of the admin's
    choosing. `end_minute` at or before `start_minute` runs past midnight."""

    __tablename__ = "on_call_shifts"

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(sa_type=String(60), index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    weekdays: list[int] = Field(default_factory=list, sa_type=JSON)  # 0 Monday … 6 Sunday
    start_minute: int = 0
    end_minute: int = 0
    timezone: str = Field(default="UTC", sa_type=String(64))
    created_at: datetime = Field(sa_type=UTCDateTime)


class ProposalAsk(SQLModel, table=True):
    """A person a proposal has asked (at which step): they see it and may decide it until it
    is decided, beside the agent's supervisor and admins."""

    __tablename__ = "proposal_asks"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    step: str = Field(sa_type=String(16))
    asked_at: datetime = Field(sa_type=UTCDateTime)


class NotificationChannel(SQLModel, table=True):
    """Where people are told that a proposal waits for them: a chat webhook (the JSON body
    Slack and Mattermost incoming webhooks accept) or e-mail over SMTP. Set by admins."""

    __tablename__ = "notification_channels"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=String(80), unique=True)
    kind: str = Field(sa_type=String(16))  # webhook | email
    # The webhook's URL, or the e-mail's sender address.
    target: str = Field(sa_type=String(500))
    # E-mail: {"host", "port", "tls": "starttls" | "ssl" | "none", "username"}; the password
    # comes from SMTP_PASSWORD, never from the database.
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    enabled: bool = True
    last_error: str | None = Field(default=None, sa_type=String(500))
    last_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class OutgoingNotice(SQLModel, table=True):
    """A notice to send (outbox): written with the escalation move that asks someone, sent by
    a scheduler job. Its links are made when it is sent, so no usable token is ever stored."""

    __tablename__ = "outgoing_notices"

    id: int | None = Field(default=None, primary_key=True)
    channel_id: int = Field(foreign_key="notification_channels.id", index=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="users.id")  # e-mail: to whom
    expires_at: datetime = Field(sa_type=UTCDateTime)  # the links': the step's deadline
    created_at: datetime = Field(sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=String(500))


class DecisionLink(SQLModel, table=True):
    """A one-time link in a notice: approve, reject or open one proposal as it was when sent.
    Only the token's hash is kept; used once, then refused."""

    __tablename__ = "decision_links"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_type=String(64), unique=True, index=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    action: str = Field(sa_type=String(16))  # approve | reject | open
    # Sent to this person (e-mail); None for a team channel, whose links need a sign-in.
    user_id: int | None = Field(default=None, foreign_key="users.id")
    parameters_hash: str = Field(sa_type=String(64))
    requires_sign_in: bool = True
    channel: str = Field(sa_type=String(100))  # "email:<name>", "webhook:<name>"
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
