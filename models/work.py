"""Action requests and what they become: proposals, queue entries, executions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.enums import (
    Decision,
    ExecutionStatus,
    MaturityLevel,
    ProposalStatus,
    QueueStatus,
    SupervisionMode,
)
from models.types import UTCDateTime


class ActionRequest(SQLModel, table=True):
    """Every `POST /api/v1/actions` and the decision it got; holds idempotency keys."""

    __tablename__ = "action_requests"
    __table_args__ = (UniqueConstraint("agent_id", "idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", index=True)
    idempotency_key: str | None = Field(default=None, sa_type=String(200))
    action: str = Field(sa_type=String(120))
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    reason: str = Field(default="", sa_type=Text)
    priority: int = 0
    level: MaturityLevel = Field(sa_type=String(16))
    decision: Decision = Field(sa_type=String(20))
    decision_reason: str = Field(default="", sa_type=Text)
    proposal_id: int | None = Field(default=None, foreign_key="proposals.id")
    queue_entry_id: int | None = Field(default=None, foreign_key="queue_entries.id")
    execution_id: int | None = Field(default=None, foreign_key="executions.id")
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)


class Proposal(SQLModel, table=True):
    __tablename__ = "proposals"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", index=True)
    supervisor_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    action: str = Field(sa_type=String(120))
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    reason: str = Field(default="", sa_type=Text)
    priority: int = 0
    risk: str | None = Field(default=None, sa_type=String(16))
    status: ProposalStatus = Field(sa_type=String(16), index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by_user_id: int | None = Field(default=None, foreign_key="users.id")
    decided_by_agent_id: int | None = Field(default=None, foreign_key="agents.id")
    decision_reason: str | None = Field(default=None, sa_type=Text)
    approved_parameters: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    review: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    # The autonomous review's claim: its token while under way, "done" once applied.
    review_claim: str | None = Field(default=None, sa_type=String(32))
    review_claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    execution_id: int | None = Field(default=None, foreign_key="executions.id")
    # Where the proposal is in its escalation chain (services/escalation.py): the chain as it
    # was when the proposal was made, the current step's index and kind, when it ends, and
    # every hop so far ({at, step, to, skipped}).
    chain: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    step_index: int = 0
    step_kind: str | None = Field(default=None, sa_type=String(16))
    step_deadline: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    hops: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)


class QueueEntry(SQLModel, table=True):
    __tablename__ = "queue_entries"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", index=True)
    supervisor_id: int = Field(foreign_key="users.id", index=True)
    action: str = Field(sa_type=String(120))
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    reason: str = Field(default="", sa_type=Text)
    priority: int = 0
    status: QueueStatus = Field(sa_type=String(16), index=True)
    attempts: int = 0
    max_attempts: int = 3
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    not_before: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_token: str | None = Field(default=None, sa_type=String(64))
    last_error: str | None = Field(default=None, sa_type=Text)
    execution_id: int | None = Field(default=None, foreign_key="executions.id")


class Execution(SQLModel, table=True):
    __tablename__ = "executions"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agents.id", index=True)
    action: str = Field(sa_type=String(120))
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    reason: str = Field(default="", sa_type=Text)
    status: ExecutionStatus = Field(sa_type=String(16), index=True)
    supervision: SupervisionMode = Field(sa_type=String(16))
    supervisor_user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    supervisor_agent_id: int | None = Field(default=None, foreign_key="agents.id")
    proposal_id: int | None = Field(default=None)
    queue_entry_id: int | None = Field(default=None)
    created_at: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_seq: int = 0
    progress_percent: float | None = None
    current_step: str | None = Field(default=None, sa_type=String(200))
    result: Any | None = Field(default=None, sa_type=JSON)
    error: str | None = Field(default=None, sa_type=Text)
    # The agent's first report or control poll: after it, the run may have had effects.
    picked_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Liveness: renewed by every report and control poll (and, before pickup, by work polls).
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # How far the AI supervisor's batched LLM look has read this run's events.
    monitored_seq: int = 0
    # First time `GET /agents/me/work` handed this run to its agent.
    offered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
