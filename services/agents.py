"""Agents: registration, maturity level, API keys and the switch that disables them."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from models import (
    ActorType,
    Agent,
    MaturityLevel,
    Proposal,
    ProposalStatus,
    QueueEntry,
    QueueStatus,
    User,
    UserRole,
)
from services.actors import Actor
from services.audit import record_audit
from services.errors import AgentDisabled, AuthenticationFailed, Conflict, InvalidInput, NotFound
from services.outbound_urls import CheckedUrl, redacted
from services.security import AGENT_KEY_PREFIX, key_hint, new_token, token_hash, tokens_match
from services.users import UserRead

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9 _.-]{1,79}$")
MAX_SPECIALTIES = 20


class AgentRead(BaseModel):
    id: int
    name: str
    description: str
    category: str
    specialties: list[str]
    maturity_level: MaturityLevel
    supervisor_id: int | None
    can_supervise: bool
    is_enabled: bool
    api_key_hint: str
    callback_url: str | None
    created_at: datetime
    updated_at: datetime
    key_rotated_at: datetime | None

    def as_actor(self) -> Actor:
        return Actor(ActorType.AGENT, self.id, self.name)


class AgentCredentials(BaseModel):
    """Shown once: at creation or rotation. Only hashes of the key are stored."""

    agent: AgentRead
    api_key: str
    webhook_secret: str


def _read(agent: Agent) -> AgentRead:
    return AgentRead.model_validate(agent, from_attributes=True)


def parse_level(value: str) -> MaturityLevel:
    try:
        return MaturityLevel(value.strip().upper())
    except ValueError:
        allowed = ", ".join(level.value for level in MaturityLevel)
        raise InvalidInput(
            f"maturity_level must be one of: {allowed}", field="maturity_level"
        ) from None


def _clean_specialties(specialties: list[str] | str) -> list[str]:
    if isinstance(specialties, str):
        specialties = specialties.split(",")
    cleaned = sorted({s.strip().lower() for s in specialties if s.strip()})
    if len(cleaned) > MAX_SPECIALTIES:
        raise InvalidInput(f"at most {MAX_SPECIALTIES} specialties", field="specialties")
    return cleaned


def _check_supervisor(session: Session, supervisor_id: int | None) -> None:
    if supervisor_id is None:
        return
    user = session.get(User, supervisor_id)
    if user is None or not user.is_active:
        raise InvalidInput("supervisor must be an active user", field="supervisor_id")
    if user.role == UserRole.VIEWER:
        raise InvalidInput("a viewer cannot supervise agents", field="supervisor_id")


def _check_reviewer(level: MaturityLevel, can_supervise: bool) -> None:
    """Only an AUTONOMOUS agent reviews others: "may supervise" on any other level would
    silently do nothing."""
    if can_supervise and level != MaturityLevel.AUTONOMOUS:
        raise InvalidInput(
            "only an AUTONOMOUS agent may supervise other agents: choose AUTONOMOUS, or leave "
            "'may supervise' off",
            field="can_supervise",
        )


def _check_watchable(session: Session, level: MaturityLevel, supervisor_id: int | None) -> None:
    """A SUPERVISED agent acts only while its human supervisor watches: without one who can
    (none, deactivated, a viewer), every action it asks for would wait or be refused, so the
    configuration is refused instead."""
    if level != MaturityLevel.SUPERVISED:
        return
    supervisor = session.get(User, supervisor_id) if supervisor_id is not None else None
    if supervisor is None or not supervisor.is_active or supervisor.role == UserRole.VIEWER:
        raise InvalidInput(
            "a SUPERVISED agent runs only while its human supervisor watches: choose a "
            "supervisor, or another level",
            field="supervisor_id",
        )


def _check_category(category: str) -> str:
    category = category.strip().lower()
    if not category or len(category) > 60:
        raise InvalidInput("category is required (at most 60 characters)", field="category")
    return category


def create_agent(
    *,
    session: Session,
    name: str,
    category: str,
    maturity_level: str,
    now: datetime,
    actor: Actor,
    description: str = "",
    specialties: list[str] | str = (),
    supervisor_id: int | None = None,
    can_supervise: bool = False,
    callback_url: CheckedUrl | None = None,
) -> AgentCredentials:
    """Register an agent and return its API key — the only time the key is visible.
    A callback URL is checked first (outbound_urls.check_callback_url), outside this
    transaction."""
    name = name.strip()
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            "name must be 2-80 characters: letters, digits, space, '.', '_' or '-'", field="name"
        )
    level = parse_level(maturity_level)
    category = _check_category(category)
    _check_supervisor(session, supervisor_id)
    _check_watchable(session, level, supervisor_id)
    _check_reviewer(level, can_supervise)
    _require_checked(callback_url)
    if session.exec(select(Agent).where(func.lower(Agent.name) == name.lower())).first():
        raise Conflict(f"an agent named '{name}' already exists", field="name")
    api_key = new_token(AGENT_KEY_PREFIX)
    webhook_secret = secrets.token_hex(32)
    agent = Agent(
        name=name,
        description=description.strip(),
        category=category,
        specialties=_clean_specialties(
            list(specialties) if not isinstance(specialties, str) else specialties
        ),
        maturity_level=level,
        supervisor_id=supervisor_id,
        can_supervise=can_supervise,
        api_key_hash=token_hash(api_key),
        api_key_hint=key_hint(api_key),
        webhook_secret=webhook_secret,
        callback_url=callback_url or None,
        created_at=now,
        updated_at=now,
    )
    session.add(agent)
    session.flush()
    record_audit(
        session=session,
        actor=actor,
        action="agent.created",
        object_type="agent",
        object_id=agent.id,
        now=now,
        after=_audit_view(agent),
    )
    return AgentCredentials(agent=_read(agent), api_key=api_key, webhook_secret=webhook_secret)


def _require_checked(url: str | None) -> None:
    if url and not isinstance(url, CheckedUrl):
        raise TypeError("check a callback URL with outbound_urls.check_callback_url first")


def _audit_view(agent: Agent) -> dict[str, Any]:
    return {
        "callback": redacted(agent.callback_url),
        "name": agent.name,
        "category": agent.category,
        "maturity_level": str(agent.maturity_level),
        "supervisor_id": agent.supervisor_id,
        "can_supervise": agent.can_supervise,
        "is_enabled": agent.is_enabled,
    }


def _load(session: Session, agent_id: int) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("no such agent")
    return agent


def supervisor_of(*, session: Session, agent_id: int) -> int | None:
    """The agent's human supervisor (None: none, or no such agent)."""
    agent = session.get(Agent, agent_id)
    return agent.supervisor_id if agent else None


def get_agent(*, session: Session, agent_id: int) -> AgentRead:
    return _read(_load(session, agent_id))


def list_agents(*, session: Session, supervisor_id: int | None = None) -> list[AgentRead]:
    query = select(Agent).order_by(col(Agent.name))
    if supervisor_id is not None:
        query = query.where(Agent.supervisor_id == supervisor_id)
    return [_read(agent) for agent in session.exec(query).all()]


_UNSET: Any = object()


def update_agent(
    *,
    session: Session,
    agent_id: int,
    now: datetime,
    actor: Actor,
    maturity_level: str | None = None,
    supervisor_id: int | None = _UNSET,
    description: str | None = None,
    category: str | None = None,
    specialties: list[str] | str | None = None,
    can_supervise: bool | None = None,
    is_enabled: bool | None = None,
    callback_url: CheckedUrl | None = _UNSET,
) -> AgentRead:
    """Change an agent's settings; each change is audited with its before and after."""
    agent = _load(session, agent_id)
    before = _audit_view(agent)
    level = parse_level(maturity_level) if maturity_level is not None else agent.maturity_level
    new_supervisor = agent.supervisor_id if supervisor_id is _UNSET else supervisor_id
    if level != agent.maturity_level or new_supervisor != agent.supervisor_id:
        # Only what changes who watches it: an agent left without one by an older version
        # can still be disabled or edited.
        _check_watchable(session, level, new_supervisor)
    if maturity_level is not None:
        agent.maturity_level = level
    moved: dict[str, int] = {}
    if supervisor_id is not _UNSET:
        _check_supervisor(session, supervisor_id)
        if supervisor_id is not None and supervisor_id != agent.supervisor_id:
            moved = _hand_waiting_work_to(session, agent_id, supervisor_id)
        agent.supervisor_id = supervisor_id
    if description is not None:
        agent.description = description.strip()
    if category is not None:
        agent.category = _check_category(category)
    if specialties is not None:
        agent.specialties = _clean_specialties(specialties)
    if can_supervise is not None:
        if can_supervise and not agent.can_supervise:
            _check_reviewer(level, can_supervise)
        agent.can_supervise = can_supervise
    if is_enabled is not None:
        agent.is_enabled = is_enabled
    if callback_url is not _UNSET:
        _require_checked(callback_url)
        agent.callback_url = callback_url or None
    agent.updated_at = now
    session.add(agent)
    after = _audit_view(agent)
    if moved:
        after["waiting_work_moved"] = moved
    action = "agent.updated"
    if before["maturity_level"] != after["maturity_level"]:
        action = "agent.level_changed"
    elif before["is_enabled"] != after["is_enabled"]:
        action = "agent.enabled" if agent.is_enabled else "agent.disabled"
    record_audit(
        session=session,
        actor=actor,
        action=action,
        object_type="agent",
        object_id=agent.id,
        now=now,
        before=before,
        after=after,
    )
    return _read(agent)


def _hand_waiting_work_to(session: Session, agent_id: int, supervisor_id: int) -> dict[str, int]:
    """The agent's pending proposals and queued work follow it to its new supervisor (the old
    one may have been demoted: left with them, the work would only wait until it expires)."""
    moved = {}
    for table, pending in (
        (Proposal, ProposalStatus.PENDING),
        (QueueEntry, QueueStatus.PENDING),
    ):
        result = session.execute(
            update(table)
            .where(col(table.agent_id) == agent_id, col(table.status) == pending)
            .values(supervisor_id=supervisor_id)
        )
        if result.rowcount:
            moved[table.__tablename__] = result.rowcount
    return moved


def rotate_agent_key(
    *, session: Session, agent_id: int, now: datetime, actor: Actor
) -> AgentCredentials:
    """Issue a new API key and webhook secret; the old ones stop working at once (a key
    that leaked may have leaked with the secret that signs the agent's callbacks)."""
    agent = _load(session, agent_id)
    api_key = new_token(AGENT_KEY_PREFIX)
    agent.webhook_secret = secrets.token_hex(32)
    agent.api_key_hash = token_hash(api_key)
    agent.api_key_hint = key_hint(api_key)
    agent.key_rotated_at = now
    agent.updated_at = now
    session.add(agent)
    record_audit(
        session=session,
        actor=actor,
        action="agent.key_rotated",
        object_type="agent",
        object_id=agent.id,
        now=now,
        after={"api_key_hint": agent.api_key_hint, "webhook_secret": "rotated"},
    )
    return AgentCredentials(
        agent=_read(agent), api_key=api_key, webhook_secret=agent.webhook_secret
    )


def authenticate_agent(*, session: Session, api_key: str) -> AgentRead:
    """The agent owning `api_key`; unknown keys are 401, disabled agents 403."""
    if not api_key.startswith(AGENT_KEY_PREFIX):
        raise AuthenticationFailed("invalid API key")
    agent = session.exec(select(Agent).where(Agent.api_key_hash == token_hash(api_key))).first()
    if agent is None or not tokens_match(agent.api_key_hash, api_key):
        raise AuthenticationFailed("invalid API key")
    if not agent.is_enabled:
        raise AgentDisabled("this agent is disabled", agent_id=agent.id or 0)
    return _read(agent)


def record_refused_action(*, session: Session, agent_id: int, now: datetime) -> None:
    """A disabled agent asked to act: audited like any other refusal (a STUDENT's included)."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        return
    record_audit(
        session=session,
        actor=Actor(ActorType.AGENT, agent.id, agent.name),
        action="action.blocked",
        object_type="agent",
        object_id=agent.id,
        now=now,
        after={"agent": agent.name, "decision": "blocked", "reason": "the agent is disabled"},
    )


def needs_supervisor(agent: AgentRead, supervisor: UserRead | None) -> bool:
    """An INTERN or SUPERVISED agent whose human supervisor is missing, deactivated or a
    viewer: nobody can approve or watch its work, so it only waits (admins should reassign)."""
    if agent.maturity_level not in (MaturityLevel.INTERN, MaturityLevel.SUPERVISED):
        return False
    return supervisor is None or not supervisor.is_active or supervisor.role == UserRole.VIEWER
