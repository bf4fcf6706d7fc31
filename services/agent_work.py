"""What an agent reads about its own work: runs handed to it, its runs, its requests.

Every read is scoped to the calling agent: another agent's id answers 404, like a missing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import update
from sqlmodel import Session, col, select

from models import Execution, ExecutionStatus, Proposal, QueueEntry
from services import executions, proposals, queue
from services.agents import AgentRead
from services.errors import NotFound
from services.execution_reads import read_execution
from services.executions import LivenessPolicy
from services.views import ExecutionRead


class WorkItem(BaseModel):
    execution: ExecutionRead
    source: str  # proposal | queue


class RequestStatus(BaseModel):
    id: int
    kind: str
    status: str
    execution_id: int | None
    reason: str | None
    # A pending proposal's escalation: the step it is at (supervisor, delegate, on_call,
    # reviewer, waiting), until when, and each hop so far ({at, step}); no one's name.
    escalation: dict[str, Any] | None = None


def offer_work(*, session: Session, agent_id: int, now: datetime, limit: int) -> list[WorkItem]:
    """Hand the agent its first `limit` runs to take, oldest first: ready ones, and ones a
    supervisor paused before the agent took them (it takes them and waits in the pause; left
    unseen they would be lost, and the pause with them).

    A run offered for the first time starts its pickup clock now (it must be picked up within
    the lost threshold); runs not offered yet stay alive while their agent keeps asking: it is
    draining a backlog, not gone. A dead agent stops asking, and its runs are lost in time.
    """
    ready = session.exec(
        select(Execution)
        .where(
            Execution.agent_id == agent_id,
            col(Execution.status).in_([ExecutionStatus.READY, ExecutionStatus.PAUSED]),
            col(Execution.picked_up_at).is_(None),
            # Runs approved at once were answered with their id: they are not "work".
            col(Execution.proposal_id).is_not(None) | col(Execution.queue_entry_id).is_not(None),
        )
        .order_by(col(Execution.id))
    ).all()
    if not ready:
        return []
    offered, waiting = ready[:limit], ready[limit:]
    first_offers = [run.id for run in offered if run.offered_at is None]
    for ids, values in (
        (first_offers, {"offered_at": now, "last_seen_at": now}),
        ([run.id for run in waiting if run.offered_at is None], {"last_seen_at": now}),
    ):
        if ids:
            session.execute(
                update(Execution)
                .where(
                    col(Execution.id).in_(ids),
                    col(Execution.offered_at).is_(None),
                    col(Execution.picked_up_at).is_(None),
                )
                .values(**values)
            )
    return [
        WorkItem(
            execution=read_execution(run),
            source="proposal" if run.proposal_id is not None else "queue",
        )
        for run in offered
    ]


def agent_execution(
    *,
    session: Session,
    agent_id: int,
    execution_id: int,
    now: datetime | None = None,
    liveness: LivenessPolicy | None = None,
) -> ExecutionRead:
    execution = session.get(Execution, execution_id)
    if execution is None or execution.agent_id != agent_id:
        raise NotFound("no such execution")
    return read_execution(execution, now=now, liveness=liveness)


def proposal_status(*, session: Session, agent_id: int, proposal_id: int) -> RequestStatus:
    proposal = session.get(Proposal, proposal_id)
    if proposal is None or proposal.agent_id != agent_id:
        raise NotFound("no such proposal")
    return RequestStatus(
        id=proposal.id or 0,
        kind="proposal",
        status=proposal.status,
        execution_id=proposal.execution_id,
        reason=proposal.decision_reason,
        escalation={
            "step": proposal.step_kind,
            "until": proposal.step_deadline,
            "hops": [{"at": hop.get("at"), "step": hop.get("step")} for hop in proposal.hops],
        },
    )


def queue_entry_status(*, session: Session, agent_id: int, entry_id: int) -> RequestStatus:
    entry = session.get(QueueEntry, entry_id)
    if entry is None or entry.agent_id != agent_id:
        raise NotFound("no such queue entry")
    return RequestStatus(
        id=entry.id or 0,
        kind="queue_entry",
        status=entry.status,
        execution_id=entry.execution_id,
        reason=entry.last_error,
    )


def withdraw_proposal(
    *, session: Session, agent: AgentRead, proposal_id: int, reason: str, now: datetime
) -> RequestStatus:
    """Give up on my pending proposal; the answer says where it stands — `withdrawn`, or how
    it was decided first (approved: its run is ended too if nothing of mine picked it up)."""
    withdrawn = proposals.withdraw_by_agent(
        session=session,
        agent_id=agent.id,
        proposal_id=proposal_id,
        actor=agent.as_actor(),
        reason=reason,
        now=now,
    )
    session.flush()
    status = proposal_status(session=session, agent_id=agent.id, proposal_id=proposal_id)
    if not withdrawn and status.execution_id is not None:
        _abandon(session, agent, status.execution_id, reason, now)
    return status


def withdraw_queue_entry(
    *, session: Session, agent: AgentRead, entry_id: int, reason: str, now: datetime
) -> RequestStatus:
    """Give up on my queued action before it is dispatched; the answer says where it stands —
    `cancelled`, or how it went when it was dispatched first (its run is ended too if nothing
    of mine picked it up)."""
    withdrawn = queue.withdraw_by_agent(
        session=session,
        agent_id=agent.id,
        entry_id=entry_id,
        actor=agent.as_actor(),
        reason=reason,
        now=now,
    )
    session.flush()
    status = queue_entry_status(session=session, agent_id=agent.id, entry_id=entry_id)
    if not withdrawn and status.execution_id is not None:
        if _abandon(session, agent, status.execution_id, reason, now):
            status = queue_entry_status(session=session, agent_id=agent.id, entry_id=entry_id)
    return status


def _abandon(
    session: Session, agent: AgentRead, execution_id: int, reason: str, now: datetime
) -> bool:
    why = (
        f"withdrawn by the agent before it started: {reason}"
        if reason
        else ("withdrawn by the agent before it started")
    )
    return executions.abandon_unstarted(
        session,
        agent_id=agent.id,
        execution_id=execution_id,
        why=why[:2000],
        actor=agent.as_actor(),
        now=now,
    )
