"""The governance check: an agent asks to act, its maturity level decides what happens.

STUDENT is refused; INTERN gets a proposal for review; SUPERVISED runs now when its human
supervisor is available and is queued otherwise; AUTONOMOUS runs (audited). The same
idempotency key from the same agent always answers with the first decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlmodel import Session, select

from models import (
    ActionRequest,
    Decision,
    Execution,
    ExecutionStatus,
    MaturityLevel,
    Proposal,
    ProposalStatus,
    QueueEntry,
    QueueStatus,
    SupervisionMode,
)
from services.agents import AgentRead
from services.audit import record_audit
from services.escalation import STARTING, EscalationPolicy, available_delegate, move_on
from services.json_limits import JsonObject
from services.presence import PresenceRules, supervisor_is_available
from services.risk_analysis import RiskRules
from services.rows import insert_row


@dataclass(frozen=True)
class GovernancePolicy:
    presence: PresenceRules
    proposal_ttl: timedelta
    queue_ttl: timedelta
    queue_max_attempts: int
    risk_rules: RiskRules = field(default_factory=RiskRules)  # a proposal's step time

    @property
    def escalation(self) -> EscalationPolicy:
        return EscalationPolicy(presence=self.presence, risk_rules=self.risk_rules)


class ActionInput(BaseModel):
    action: str
    parameters: JsonObject = {}
    reason: str = ""
    priority: int = 0
    idempotency_key: str | None = None


class ActionDecision(BaseModel):
    request_id: int
    decision: Decision
    level: MaturityLevel
    reason: str
    proposal_id: int | None = None
    queue_entry_id: int | None = None
    execution_id: int | None = None
    replayed: bool = False


def decide(
    level: MaturityLevel, has_supervisor: bool, supervisor_available: bool
) -> tuple[Decision, str]:
    """The routing rule itself, free of I/O so it can be checked (and cached) cheaply."""
    if level == MaturityLevel.STUDENT:
        return Decision.BLOCKED, "STUDENT agents may not act; raise the agent's level to let it"
    if level == MaturityLevel.INTERN:
        return Decision.PROPOSED, "INTERN actions need approval before they run"
    if level == MaturityLevel.SUPERVISED:
        if not has_supervisor:
            return Decision.BLOCKED, "SUPERVISED agent has no human supervisor assigned"
        if supervisor_available:
            return Decision.APPROVED_TO_RUN, "supervisor is online and will watch the run"
        return Decision.QUEUED, "supervisor is not available; queued until they are back"
    return Decision.APPROVED_TO_RUN, "AUTONOMOUS agent: runs now, streamed and audited"


def check(
    *, session: Session, agent: AgentRead, now: datetime, policy: GovernancePolicy
) -> tuple[Decision, str, int | None]:
    """The routing decision for `agent` now, and who watches a supervised run (the supervisor,
    or, while they are away, their delegate who is online); with a warm presence cache and
    the supervisor there it does no I/O."""
    available = agent.supervisor_id is not None and supervisor_is_available(
        session=session, user_id=agent.supervisor_id, now=now, rules=policy.presence
    )
    decision, why = decide(agent.maturity_level, agent.supervisor_id is not None, available)
    watcher = agent.supervisor_id
    if decision == Decision.QUEUED and agent.supervisor_id is not None:
        stand_in = available_delegate(
            session=session, user_id=agent.supervisor_id, now=now, rules=policy.presence
        )
        if stand_in is not None:
            decision, watcher = Decision.APPROVED_TO_RUN, stand_in
            why = "supervisor is away; their delegate is online and will watch the run"
    return decision, why, watcher


def find_previous_decision(
    *, session: Session, agent_id: int, idempotency_key: str
) -> ActionDecision | None:
    """The first decision for this idempotency key, replayed; None for a new key."""
    previous = session.exec(
        select(ActionRequest).where(
            ActionRequest.agent_id == agent_id, ActionRequest.idempotency_key == idempotency_key
        )
    ).first()
    if previous is None:
        return None
    return _decision_of(previous, replayed=True)


def _decision_of(request: ActionRequest, *, replayed: bool = False) -> ActionDecision:
    return ActionDecision(
        request_id=request.id or 0,
        decision=request.decision,
        level=request.level,
        reason=request.decision_reason,
        proposal_id=request.proposal_id,
        queue_entry_id=request.queue_entry_id,
        execution_id=request.execution_id,
        replayed=replayed,
    )


def route_action(
    *,
    session: Session,
    agent: AgentRead,
    request: ActionInput,
    now: datetime,
    policy: GovernancePolicy,
) -> ActionDecision:
    """Decide and record an action request, creating what the decision needs, in one transaction."""
    if request.idempotency_key:
        previous = find_previous_decision(
            session=session, agent_id=agent.id, idempotency_key=request.idempotency_key
        )
        if previous is not None:
            return previous
    decision, why, watcher = check(session=session, agent=agent, now=now, policy=policy)
    asked = {
        "agent_id": agent.id,
        "action": request.action,
        "parameters": request.parameters,
        "reason": request.reason,
    }
    made: dict[str, int | None] = {
        "proposal_id": None,
        "queue_entry_id": None,
        "execution_id": None,
    }
    if decision == Decision.PROPOSED:
        made["proposal_id"] = insert_row(
            session,
            Proposal,
            **asked,
            supervisor_id=agent.supervisor_id,
            priority=request.priority,
            status=ProposalStatus.PENDING,
            created_at=now,
            expires_at=now + policy.proposal_ttl,
            step_kind=STARTING,
            step_deadline=now,
        )
        # Who is asked first (steps nobody can take now skipped), in the same transaction.
        move_on(
            session=session,
            proposal_id=made["proposal_id"],
            now=now,
            policy=policy.escalation,
            cause="new proposal",
            announce=False,
        )
    elif decision == Decision.QUEUED:
        made["queue_entry_id"] = insert_row(
            session,
            QueueEntry,
            **asked,
            supervisor_id=agent.supervisor_id or 0,
            priority=request.priority,
            status=QueueStatus.PENDING,
            max_attempts=policy.queue_max_attempts,
            created_at=now,
            expires_at=now + policy.queue_ttl,
        )
    elif decision == Decision.APPROVED_TO_RUN:
        supervised = agent.maturity_level == MaturityLevel.SUPERVISED
        made["execution_id"] = insert_row(
            session,
            Execution,
            **asked,
            status=ExecutionStatus.READY,
            supervision=SupervisionMode.HUMAN if supervised else SupervisionMode.NONE,
            supervisor_user_id=watcher,
            created_at=now,
            last_seen_at=now,
        )
    request_id = insert_row(
        session,
        ActionRequest,
        **asked,
        **made,
        idempotency_key=request.idempotency_key,
        priority=request.priority,
        level=agent.maturity_level,
        decision=decision,
        decision_reason=why,
        created_at=now,
    )
    record_audit(
        session=session,
        actor=agent.as_actor(),
        action=f"action.{decision.value}",
        object_type="action_request",
        object_id=request_id,
        now=now,
        after={
            "agent": agent.name,
            "action": request.action,
            "level": agent.maturity_level.value,
            "decision": decision.value,
            "reason": why,
            **made,
        },
    )
    return ActionDecision(
        request_id=request_id, decision=decision, level=agent.maturity_level, reason=why, **made
    )


class ActionRequestRead(BaseModel):
    id: int
    action: str
    decision: Decision
    level: MaturityLevel
    decision_reason: str
    created_at: datetime
    proposal_id: int | None
    queue_entry_id: int | None
    execution_id: int | None


def recent_decisions(
    *, session: Session, agent_id: int, limit: int = 10
) -> list[ActionRequestRead]:
    rows = session.exec(
        select(ActionRequest)
        .where(ActionRequest.agent_id == agent_id)
        .order_by(ActionRequest.id.desc())  # type: ignore[union-attr]
        .limit(limit)
    ).all()
    return [ActionRequestRead.model_validate(r, from_attributes=True) for r in rows]
