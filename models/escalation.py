"""Who is asked about a proposal, and in what order: escalation chains set by admins,
supervisors' delegates while away, the categories' weekly on-call hours, and everyone a
proposal has asked so far."""

from __future__ import annotations

from datetime import datetime

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
