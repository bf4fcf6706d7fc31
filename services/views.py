"""Read models shared by services and screens (no table rows leave a session)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from models.enums import ExecutionStatus, ProposalStatus, QueueStatus, SupervisionMode


class ExecutionRead(BaseModel):
    id: int
    agent_id: int
    action: str
    parameters: dict[str, Any]
    reason: str
    status: ExecutionStatus
    supervision: SupervisionMode
    supervisor_user_id: int | None
    supervisor_agent_id: int | None
    proposal_id: int | None
    queue_entry_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_seq: int
    progress_percent: float | None
    current_step: str | None
    result: Any | None
    error: str | None
    picked_up_at: datetime | None = None
    last_seen_at: datetime | None = None
    stale: bool = False


class ProposalRead(BaseModel):
    id: int
    agent_id: int
    supervisor_id: int | None
    action: str
    parameters: dict[str, Any]
    reason: str
    priority: int
    risk: Literal["safe", "medium", "high"] | None
    status: ProposalStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by_user_id: int | None
    decided_by_agent_id: int | None
    decision_reason: str | None
    approved_parameters: dict[str, Any] | None
    review: dict[str, Any] | None
    execution_id: int | None
    # Escalation (services/escalation.py): the chain followed, the step it is at and until
    # when, and every hop so far.
    chain: dict[str, Any] | None = None
    step_kind: str | None = None
    step_deadline: datetime | None = None
    hops: list[dict[str, Any]] = []


class QueueEntryRead(BaseModel):
    id: int
    agent_id: int
    supervisor_id: int
    action: str
    parameters: dict[str, Any]
    reason: str
    priority: int
    status: QueueStatus
    attempts: int
    max_attempts: int
    created_at: datetime
    expires_at: datetime
    not_before: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str | None
    execution_id: int | None
