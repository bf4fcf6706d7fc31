"""Supervisors watching and steering runs (a supervision session is an execution)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field

from services import agents as agent_service
from services import execution_reads as execution_service
from services import interventions
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.errors import InvalidInput, NotFound
from services.interventions import InterventionRead
from services.policy import liveness_policy
from services.views import ExecutionRead
from supervision_app.api.auth import UserDep, still_signed_in
from supervision_app.api.schemas import StrictBody
from supervision_app.api.sse import SSE_RESPONSES, EventStream

router = APIRouter(prefix="/api/supervision", tags=["supervision"])


class InterveneBody(StrictBody):
    kind: Literal["pause", "resume", "correction", "terminate"]
    text: str | None = Field(default=None, max_length=5000)


@router.get("/sessions/active")
def active_sessions(caller: UserDep) -> list[ExecutionRead]:
    """Runs not yet finished: the caller's, or all for admins; `stale` when their agent has
    been silent past RUN_STALE_AFTER_S."""
    with read_scope() as session:
        return execution_service.list_executions(
            session=session,
            supervisor_user_id=execution_service.watched_runs_scope(caller),
            active_only=True,
            now=utcnow(),
            liveness=liveness_policy(),
        )


@router.get("/agents/{agent_id}/sessions")
def agent_sessions(agent_id: int, caller: UserDep) -> list[ExecutionRead]:
    with read_scope() as session:
        runs = execution_service.list_executions(
            session=session,
            agent_id=agent_id,
            limit=200,
            now=utcnow(),
            liveness=liveness_policy(),
        )
        supervisor = agent_service.supervisor_of(session=session, agent_id=agent_id)
    scope = execution_service.watched_runs_scope(caller)
    if scope is not None:
        # Runs they watch, and every run of an agent they supervise.
        runs = [r for r in runs if scope in (r.supervisor_user_id, supervisor)]
        if not runs:
            raise NotFound("no such agent")
    return runs


class CompleteBody(StrictBody):
    note: str = Field(default="", max_length=5000)
    rating: int | None = Field(default=None, ge=1, le=5)


def last_event_id(request: Request, last_event_id: int | None) -> int:
    header = request.headers.get("last-event-id", "").strip()
    if header:
        if not header.isdigit():
            raise InvalidInput("Last-Event-ID must be a sequence number", field="Last-Event-ID")
        return int(header)
    return last_event_id or 0


@router.get("/{execution_id}/stream", response_model=None, responses=SSE_RESPONSES)
def stream(
    execution_id: int,
    request: Request,
    caller: UserDep,
    last_event_id_query: int | None = Query(default=None, alias="last_event_id", ge=0),
) -> EventStream:
    """Server-Sent Events of the run; reconnect with Last-Event-ID to resume without gaps."""
    with read_scope() as session:
        interventions.readable_execution(session=session, execution_id=execution_id, caller=caller)
    return EventStream(
        execution_id,
        last_event_id(request, last_event_id_query),
        still_signed_in(request, user_id=caller.id),
    )


@router.post("/sessions/{session_id}/complete")
def complete(session_id: int, body: CompleteBody, caller: UserDep) -> InterventionRead:
    """End supervision of a run with a note and a rating."""
    with session_scope() as session:
        result = interventions.complete_supervision(
            session=session,
            execution_id=session_id,
            caller=caller,
            now=utcnow(),
            note=body.note,
            rating=body.rating,
        )
    return result


@router.post("/sessions/{session_id}/intervene")
def intervene(session_id: int, body: InterveneBody, caller: UserDep) -> InterventionRead:
    """Pause, resume, correct or terminate a run; delivered through the agent's control channel."""
    with session_scope() as session:
        result = interventions.intervene(
            session=session,
            execution_id=session_id,
            caller=caller,
            kind=body.kind,
            text=body.text,
            now=utcnow(),
        )
    return result
