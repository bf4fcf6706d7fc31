"""The agents' side of the API (`/api/v1`): ask to act, report events, receive controls."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from models import Execution, ExecutionStatus, Proposal, QueueEntry
from services import execution_events, governance, presence
from services.agents import AgentRead
from services.clock import utcnow
from services.config import get_settings
from services.db import read_scope, session_scope
from services.dispatch import review_if_unattended
from services.errors import NotFound
from services.execution_events import AgentEvent, Control, EventsAccepted
from services.executions import read_execution
from services.governance import ActionDecision, ActionInput
from services.policy import governance_policy, monitor_policy, presence_rules
from services.views import ExecutionRead
from supervision_app.api.auth import AgentDep
from supervision_app.api.live import hub
from supervision_app.api.schemas import StrictBody
from supervision_app.api.sse import SSE_RESPONSES, EventStream

router = APIRouter(prefix="/api/v1", tags=["agents (v1)"])

MAX_CONTROL_WAIT_S = 30


class ActionBody(StrictBody):
    action: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:/-]+$")
    parameters: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(default="", max_length=5000)
    priority: int = Field(default=0, ge=-1000, le=1000)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class EventsBody(StrictBody):
    events: list[AgentEvent] = Field(min_length=1, max_length=500)


@router.post("/actions", responses={403: {"description": "blocked, with the decision"}})
def request_action(body: ActionBody, agent: AgentDep, background: BackgroundTasks) -> JSONResponse:
    """Ask to act. The answer is one decision: blocked, proposed, queued or approved_to_run."""
    request = ActionInput(**body.model_dump())
    try:
        with session_scope() as session:
            decision = governance.route_action(
                session=session,
                agent=agent,
                request=request,
                now=utcnow(),
                policy=governance_policy(),
            )
    except IntegrityError:
        # Another request with the same idempotency key committed first: answer with its decision.
        with read_scope() as session:
            decision = governance.find_previous_decision(
                session=session, agent_id=agent.id, idempotency_key=body.idempotency_key or ""
            )
        if decision is None:
            raise
        decision = decision.model_copy(update={"replayed": True})
    if decision.execution_id:
        hub.publish(decision.execution_id)
    if decision.proposal_id and not decision.replayed:
        # After the answer is sent: the autonomous supervisor steps in if no human is there.
        background.add_task(review_if_unattended, decision.proposal_id)
    status = 403 if decision.decision == "blocked" else 200
    return JSONResponse(decision.model_dump(mode="json"), status_code=status)


@router.post("/executions/{execution_id}/events")
def report_events(execution_id: int, body: EventsBody, agent: AgentDep) -> EventsAccepted:
    """Report log lines, progress, output and the final outcome; the answer carries controls."""
    with session_scope() as session:
        accepted = execution_events.record_events(
            session=session,
            agent=agent,
            execution_id=execution_id,
            events=body.events,
            now=utcnow(),
            queue_lease=timedelta(seconds=get_settings().queue_lease_s),
            monitor=monitor_policy(),
        )
    hub.publish(execution_id)
    return accepted


@router.get("/executions/{execution_id}/control")
async def wait_for_control(
    execution_id: int, agent: AgentDep, wait: float = Query(default=0, ge=0, le=MAX_CONTROL_WAIT_S)
) -> list[Control]:
    """Long-poll for the next controls (up to `wait` seconds, at most 30)."""
    deadline = time.monotonic() + wait
    while True:
        controls = await asyncio.to_thread(_take_controls, agent, execution_id)
        remaining = deadline - time.monotonic()
        if controls or remaining <= 0:
            return controls
        await hub.wait(execution_id, remaining)


def _take_controls(agent: AgentRead, execution_id: int) -> list[Control]:
    with session_scope() as session:
        return execution_events.poll_controls(
            session=session, agent=agent, execution_id=execution_id, now=utcnow()
        )


@router.get("/executions/{execution_id}/stream", response_model=None, responses=SSE_RESPONSES)
def stream_my_execution(
    execution_id: int,
    request: Request,
    agent: AgentDep,
    last_event_id: int | None = Query(default=None, ge=0),
) -> EventStream:
    """Server-Sent Events of my own run, resumable with Last-Event-ID."""
    from supervision_app.api.routes_supervision import last_event_id as resume_point

    with read_scope() as session:
        execution = session.get(Execution, execution_id)
        if execution is None or execution.agent_id != agent.id:
            raise NotFound("no such execution")
    return EventStream(execution_id, resume_point(request, last_event_id))


@router.get("/executions/{execution_id}")
def get_my_execution(execution_id: int, agent: AgentDep) -> ExecutionRead:
    with read_scope() as session:
        execution = session.get(Execution, execution_id)
        if execution is None or execution.agent_id != agent.id:
            raise NotFound("no such execution")
        return read_execution(execution)


class SupervisorInfo(BaseModel):
    id: int
    name: str
    presence: str
    available: bool


class AgentMe(BaseModel):
    agent: AgentRead
    supervisor: SupervisorInfo | None


@router.get("/agents/me")
def who_am_i(agent: AgentDep) -> AgentMe:
    """My record, my level, and my supervisor with their presence."""
    from services.users import get_user

    supervisor = None
    if agent.supervisor_id is not None:
        rules, now = presence_rules(), utcnow()
        with read_scope() as session:
            user = get_user(session=session, user_id=agent.supervisor_id)
            state = presence.get_presence(
                session=session, user_id=user.id, now=now, rules=rules
            ).state
        supervisor = SupervisorInfo(
            id=user.id,
            name=user.display_name,
            presence=state,
            available=presence.is_available_state(state, rules),
        )
    return AgentMe(agent=agent, supervisor=supervisor)


class CallbackBody(StrictBody):
    url: str | None = Field(max_length=500, pattern=r"^https?://", description="null removes it")


@router.put("/agents/me/callback")
def register_callback(body: CallbackBody, agent: AgentDep) -> AgentRead:
    """Register (or remove) the URL that receives signed notifications of my decisions."""
    from services.agents import update_agent

    with session_scope() as session:
        return update_agent(
            session=session,
            agent_id=agent.id,
            callback_url=body.url,
            now=utcnow(),
            actor=agent.as_actor(),
        )


class WorkItem(BaseModel):
    execution: ExecutionRead
    source: str


@router.get("/agents/me/work")
def my_work(agent: AgentDep) -> list[WorkItem]:
    """Executions that became runnable for me: approved proposals and dispatched queue entries."""
    with read_scope() as session:
        rows = session.exec(
            select(Execution)
            .where(Execution.agent_id == agent.id, Execution.status == ExecutionStatus.READY)
            .order_by(Execution.id)  # type: ignore[arg-type]
        ).all()
        items = []
        for row in rows:
            if row.proposal_id is None and row.queue_entry_id is None:
                continue
            source = "proposal" if row.proposal_id is not None else "queue"
            items.append(WorkItem(execution=read_execution(row), source=source))
    return items


class RequestStatus(BaseModel):
    id: int
    kind: str
    status: str
    execution_id: int | None
    reason: str | None


@router.get("/proposals/{proposal_id}")
def my_proposal(proposal_id: int, agent: AgentDep) -> RequestStatus:
    """Where my proposal stands (pending, approved with its execution, rejected with why)."""
    with read_scope() as session:
        proposal = session.get(Proposal, proposal_id)
        if proposal is None or proposal.agent_id != agent.id:
            raise NotFound("no such proposal")
        return RequestStatus(
            id=proposal.id or 0,
            kind="proposal",
            status=proposal.status,
            execution_id=proposal.execution_id,
            reason=proposal.decision_reason,
        )


@router.get("/queue/{entry_id}")
def my_queue_entry(entry_id: int, agent: AgentDep) -> RequestStatus:
    with read_scope() as session:
        entry = session.get(QueueEntry, entry_id)
        if entry is None or entry.agent_id != agent.id:
            raise NotFound("no such queue entry")
        return RequestStatus(
            id=entry.id or 0,
            kind="queue_entry",
            status=entry.status,
            execution_id=entry.execution_id,
            reason=entry.last_error,
        )


__all__ = ["router", "ActionDecision"]
