"""The agents' side of the API (`/api/v1`): ask to act, report events, receive controls."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from services import agent_work, execution_events, governance, presence
from services.agent_work import RequestStatus, WorkItem
from services.agents import AgentRead
from services.autonomous_review import schedule_review
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.errors import InvalidInput
from services.execution_events import AgentEvent, EventsAccepted
from services.executions import ControlState
from services.governance import ActionDecision, ActionInput
from services.json_limits import JsonObject
from services.outbound_urls import check_callback_url
from services.policy import (
    callback_targets,
    governance_policy,
    liveness_policy,
    monitor_policy,
    presence_rules,
)
from services.views import ExecutionRead
from supervision_app.api.auth import ActingAgentDep, AgentDep, still_signed_in
from supervision_app.api.live import hub
from supervision_app.api.schemas import StrictBody
from supervision_app.api.sse import SSE_RESPONSES, EventStream

router = APIRouter(prefix="/api/v1", tags=["agents (v1)"])

MAX_CONTROL_WAIT_S = 30


class ActionBody(StrictBody):
    action: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:/-]+$")
    parameters: JsonObject = Field(default_factory=dict)
    reason: str = Field(default="", max_length=5000)
    priority: int = Field(default=0, ge=-1000, le=1000)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class EventsBody(StrictBody):
    events: list[AgentEvent] = Field(min_length=1, max_length=500)
    ack: list[int] = Field(
        default_factory=list,
        max_length=100,
        description="Ids of controls applied since the last answer: they are not sent again.",
    )


@router.post("/actions", responses={403: {"description": "blocked, with the decision"}})
def request_action(body: ActionBody, agent: ActingAgentDep) -> JSONResponse:
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
    if decision.proposal_id and not decision.replayed:
        # Committed: the autonomous supervisor steps in (in the review pool, not this request's
        # thread) if no human is there.
        schedule_review(decision.proposal_id)
    status = 403 if decision.decision == "blocked" else 200
    return JSONResponse(decision.model_dump(mode="json"), status_code=status)


@router.post(
    "/executions/{execution_id}/events",
    response_model=EventsAccepted,
    responses={409: {"description": "not accepted now; the body carries the run's state"}},
)
def report_events(execution_id: int, body: EventsBody, agent: AgentDep) -> JSONResponse:
    """Report log lines, progress, output and the final outcome; the answer carries the run's
    state and every control not yet acknowledged (send their ids back in `ack`)."""
    with session_scope() as session:
        accepted = execution_events.record_events(
            session=session,
            agent=agent,
            execution_id=execution_id,
            events=body.events,
            ack=body.ack,
            now=utcnow(),
            monitor=monitor_policy(),
        )
    if accepted.accepted < len(body.events):
        # The AI supervisor stepped in on the batch that ended the run: the lines before the
        # end are stored (committed above), the end is not.
        detail = f"the run is {accepted.status}: the final event was not accepted"
        return JSONResponse({"detail": detail, **accepted.model_dump(mode="json")}, status_code=409)
    # Answered as built: validating it again against the response model cost 0.1 ms a report.
    return JSONResponse(accepted.model_dump(mode="json"))


def _parse_ack(ack: str) -> list[int]:
    try:
        ids = [int(part) for part in ack.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput("ack must be control ids separated by commas", field="ack") from None
    if len(ids) > 100:
        raise InvalidInput("at most 100 control ids", field="ack")
    return ids


@router.get("/executions/{execution_id}/control")
async def wait_for_control(
    execution_id: int,
    agent: AgentDep,
    wait: float = Query(default=0, ge=0, le=MAX_CONTROL_WAIT_S),
    ack: str = Query(default="", max_length=2000, description="applied control ids, e.g. 3,4"),
) -> ControlState:
    """Long-poll for controls (up to `wait` seconds, at most 30). Answers at once when a
    control is not yet acknowledged or the run has ended; every poll keeps the run alive."""
    ids = _parse_ack(ack)
    deadline = time.monotonic() + wait
    state = await asyncio.to_thread(_poll_controls, agent, execution_id, ids)
    while not state.controls and not state.ended:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        # Woken by a committed change of this run, or after a second to re-check.
        await hub.wait(execution_id, remaining)
        if await asyncio.to_thread(_controls_waiting, agent, execution_id):
            state = await asyncio.to_thread(_poll_controls, agent, execution_id, [])
    return state


def _poll_controls(agent: AgentRead, execution_id: int, ack: list[int]) -> ControlState:
    with session_scope() as session:
        return execution_events.poll_controls(
            session=session, agent=agent, execution_id=execution_id, now=utcnow(), ack=ack
        )


def _controls_waiting(agent: AgentRead, execution_id: int) -> bool:
    """A read-only re-check: a new control, or the run ended (no write while waiting)."""
    with read_scope() as session:
        state = execution_events.peek_controls(
            session=session, agent_id=agent.id, execution_id=execution_id
        )
    return bool(state.controls) or state.ended


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
        agent_work.agent_execution(session=session, agent_id=agent.id, execution_id=execution_id)
    return EventStream(
        execution_id,
        resume_point(request, last_event_id),
        still_signed_in(request, agent_id=agent.id),
    )


@router.get("/executions/{execution_id}")
def get_my_execution(execution_id: int, agent: AgentDep) -> ExecutionRead:
    """My run, with `stale` when nothing was heard from me past RUN_STALE_AFTER_S."""
    with read_scope() as session:
        return agent_work.agent_execution(
            session=session,
            agent_id=agent.id,
            execution_id=execution_id,
            now=utcnow(),
            liveness=liveness_policy(),
        )


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
            available = presence.supervisor_is_available(
                session=session, user_id=user.id, now=now, rules=rules
            )
        supervisor = SupervisorInfo(
            id=user.id, name=user.display_name, presence=state, available=available
        )
    return AgentMe(agent=agent, supervisor=supervisor)


class CallbackBody(StrictBody):
    url: str | None = Field(max_length=500, pattern=r"^https?://", description="null removes it")


@router.put("/agents/me/callback")
def register_callback(body: CallbackBody, agent: AgentDep) -> AgentRead:
    """Register (or remove) the URL that receives signed notifications of my decisions."""
    from services.agents import update_agent

    url = check_callback_url(body.url, callback_targets()) if body.url else None
    with session_scope() as session:
        return update_agent(
            session=session,
            agent_id=agent.id,
            callback_url=url,
            now=utcnow(),
            actor=agent.as_actor(),
        )


@router.get("/agents/me/work")
def my_work(
    agent: AgentDep,
    limit: int = Query(
        default=1,
        ge=1,
        le=100,
        description="at most this many runs; ask for as many as you will start right away",
    ),
) -> list[WorkItem]:
    """Runs that became runnable for me (approved proposals, dispatched queue entries), oldest
    first. A run handed out here must be picked up (first report or control poll) within
    RUN_LOST_AFTER_S; runs beyond `limit` wait, kept alive while I keep asking."""
    with session_scope() as session:
        return agent_work.offer_work(session=session, agent_id=agent.id, now=utcnow(), limit=limit)


@router.get("/proposals/{proposal_id}")
def my_proposal(proposal_id: int, agent: AgentDep) -> RequestStatus:
    """Where my proposal stands (pending, approved with its execution, rejected with why)."""
    with read_scope() as session:
        return agent_work.proposal_status(
            session=session, agent_id=agent.id, proposal_id=proposal_id
        )


@router.get("/queue/{entry_id}")
def my_queue_entry(entry_id: int, agent: AgentDep) -> RequestStatus:
    with read_scope() as session:
        return agent_work.queue_entry_status(session=session, agent_id=agent.id, entry_id=entry_id)


class WithdrawBody(StrictBody):
    reason: str = Field(default="", max_length=2000, description="Why the agent gave up.")


@router.post("/proposals/{proposal_id}/withdraw")
def withdraw_my_proposal(
    proposal_id: int, agent: AgentDep, body: WithdrawBody | None = None
) -> RequestStatus:
    """Give up on my proposal while nobody has decided it (my caller cancelled, I stopped
    waiting): it leaves every inbox and can no longer be approved. The answer is where it
    stands: `withdrawn`, or the decision that came first (approved: its run is ended too if
    nothing of mine has taken it)."""
    with session_scope() as session:
        return agent_work.withdraw_proposal(
            session=session,
            agent=agent,
            proposal_id=proposal_id,
            reason=body.reason if body else "",
            now=utcnow(),
        )


@router.post("/queue/{entry_id}/withdraw")
def withdraw_my_queue_entry(
    entry_id: int, agent: AgentDep, body: WithdrawBody | None = None
) -> RequestStatus:
    """Give up on my queued action: it is cancelled. The answer is where it stands —
    `cancelled` (dispatched a moment before: its run is ended too if nothing of mine has
    taken it), or `executing` with the run one of my workers took."""
    with session_scope() as session:
        return agent_work.withdraw_queue_entry(
            session=session,
            agent=agent,
            entry_id=entry_id,
            reason=body.reason if body else "",
            now=utcnow(),
        )


__all__ = ["router", "ActionDecision"]
