"""Agent management for users: admins register and change agents; supervisors see theirs."""

from __future__ import annotations

from fastapi import APIRouter

from services import agents as agent_service
from services.agents import AgentCredentials, AgentRead
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.errors import NotFound
from services.outbound_urls import CheckedUrl, check_callback_url, redacted
from services.policy import callback_targets
from services.users import UserRead
from supervision_app.api.auth import AdminDep, UserDep
from supervision_app.api.schemas import AgentCreateBody, AgentUpdateBody

router = APIRouter(prefix="/api/agents", tags=["agents"])


@router.get("")
def list_agents(user: UserDep) -> list[AgentRead]:
    """Admins and viewers see every agent; supervisors see the agents they supervise."""
    with read_scope() as session:
        if user.role == "supervisor":
            agents = agent_service.list_agents(session=session, supervisor_id=user.id)
        else:
            agents = agent_service.list_agents(session=session)
    return [_as_seen_by(user, agent) for agent in agents]


def _as_seen_by(user: UserRead, agent: AgentRead) -> AgentRead:
    """A callback URL often carries its receiver's secret: admins see it whole, others only
    its host (as the audit shows it)."""
    if user.is_admin or not agent.callback_url:
        return agent
    return agent.model_copy(update={"callback_url": redacted(agent.callback_url)})


@router.post("", status_code=201)
def create_agent(body: AgentCreateBody, admin: AdminDep) -> AgentCredentials:
    """Register an agent. The answer carries its API key: the only time it is shown."""
    fields = body.model_dump()
    fields["callback_url"] = _checked(fields.get("callback_url"), "callback_url")
    with session_scope() as session:
        return agent_service.create_agent(
            session=session, now=utcnow(), actor=admin.as_actor(), **fields
        )


def _checked(url: str | None, field: str) -> CheckedUrl | None:
    """Resolved and checked before the transaction (a name lookup may take seconds)."""
    return check_callback_url(url, callback_targets(), field=field) if url else None


@router.get("/{agent_id}")
def get_agent(agent_id: int, user: UserDep) -> AgentRead:
    with read_scope() as session:
        agent = agent_service.get_agent(session=session, agent_id=agent_id)
    if user.role == "supervisor" and agent.supervisor_id != user.id:
        raise NotFound("no such agent")
    return _as_seen_by(user, agent)


@router.patch("/{agent_id}")
def update_agent(agent_id: int, body: AgentUpdateBody, admin: AdminDep) -> AgentRead:
    changes = body.model_dump(exclude_unset=True)
    if "callback_url" in changes:
        changes["callback_url"] = _checked(changes["callback_url"], "callback_url")
    with session_scope() as session:
        return agent_service.update_agent(
            session=session, agent_id=agent_id, now=utcnow(), actor=admin.as_actor(), **changes
        )


@router.post("/{agent_id}/rotate-key")
def rotate_key(agent_id: int, admin: AdminDep) -> AgentCredentials:
    """Issue a new API key; the old one stops working at once."""
    with session_scope() as session:
        return agent_service.rotate_agent_key(
            session=session, agent_id=agent_id, now=utcnow(), actor=admin.as_actor()
        )
