"""Supervisors watching and steering runs (a supervision session is an execution)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from services import executions as execution_service
from services import interventions
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.errors import NotFound
from services.interventions import InterventionRead
from services.views import ExecutionRead
from supervision_app.api.auth import UserDep
from supervision_app.api.live import hub
from supervision_app.api.schemas import StrictBody

router = APIRouter(prefix="/api/supervision", tags=["supervision"])


class InterveneBody(StrictBody):
    kind: str = Field(max_length=16, description="pause, resume, correction or terminate")
    text: str | None = Field(default=None, max_length=5000)


@router.get("/sessions/active")
def active_sessions(caller: UserDep) -> list[ExecutionRead]:
    """Runs not yet finished: the caller's, or all for admins."""
    with read_scope() as session:
        return execution_service.list_executions(
            session=session,
            supervisor_user_id=None if caller.is_admin else caller.id,
            active_only=True,
        )


@router.get("/agents/{agent_id}/sessions")
def agent_sessions(agent_id: int, caller: UserDep) -> list[ExecutionRead]:
    with read_scope() as session:
        runs = execution_service.list_executions(session=session, agent_id=agent_id, limit=200)
    if not caller.is_admin:
        runs = [r for r in runs if r.supervisor_user_id == caller.id]
        if not runs:
            raise NotFound("no such agent")
    return runs


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
    hub.publish(session_id)
    return result
