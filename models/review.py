"""What the autonomous reviewer may approve, and what it said: per-category allow-lists set by
admins, and every verdict of the reviewer beside the human decision on the same proposal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime


class ReviewAllowList(SQLModel, table=True):
    """The actions the rule reviewer may approve for one category of agents (when no risk rule
    fires). A category without a row uses the default (REVIEW_SAFE_ACTIONS, or the built-in
    read-only verbs)."""

    __tablename__ = "review_allow_lists"

    category: str = Field(sa_type=String(60), primary_key=True)
    # Action-name patterns (fnmatch, lowercase): `list_*`, `crm.get_*`.
    patterns: list[str] = Field(default_factory=list, sa_type=JSON)
    # Also the built-in read-only verbs (`get…`, `list…`, `search…`).
    read_only_verbs: bool = True
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by_user_id: int | None = Field(default=None, foreign_key="users.id")


class ReviewerVerdict(SQLModel, table=True):
    """One reviewer verdict per proposal: the real review when no human was there, or a
    shadow review computed after a human decided, so the two can be compared."""

    __tablename__ = "reviewer_verdicts"

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", unique=True)
    shadow: bool = False
    reviewer_agent_id: int | None = Field(default=None, foreign_key="agents.id", index=True)
    reviewer_name: str | None = Field(default=None, sa_type=String(80))
    reviewer: str | None = Field(default=None, sa_type=String(40))  # "llm", "rule-based reviewer"
    model: str | None = Field(default=None, sa_type=String(120))
    decision: str | None = Field(default=None, sa_type=String(16))  # None while claimed
    risk: str | None = Field(default=None, sa_type=String(16))
    confidence: float | None = None
    would_approve: bool | None = None
    reasons: list[str] = Field(default_factory=list, sa_type=JSON)
    error: str | None = Field(default=None, sa_type=String(500))
    claim: str | None = Field(default=None, sa_type=String(32))
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
