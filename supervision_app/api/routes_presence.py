"""Presence: heartbeats from dashboard tabs, overrides, sessions, available supervisors."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services import presence
from services.agents import list_agents
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.dispatch import dispatch_supervisor_work
from services.errors import NotFound, PermissionDenied
from services.policy import presence_rules
from services.presence import PresenceChangeRead, PresenceRead, PresenceSessionRead, PresenceUpdate
from services.users import UserRead
from supervision_app.api.auth import UserDep
from supervision_app.api.schemas import StrictBody

router = APIRouter(prefix="/api", tags=["presence"])


class HeartbeatBody(StrictBody):
    session_token: str = Field(min_length=8, max_length=100)


class StartSessionBody(StrictBody):
    user_agent: str = Field(default="", max_length=300)


class OverrideBody(StrictBody):
    state: str = Field(max_length=16)
    expires_at: datetime | None = None


class SessionStarted(BaseModel):
    session_token: str
    session: PresenceSessionRead


class AvailableSupervisor(BaseModel):
    id: int
    username: str
    display_name: str
    state: str
    categories: list[str]


def _can_read(caller: UserRead, user_id: int) -> None:
    if caller.id != user_id and not caller.is_admin:
        raise PermissionDenied("you can only see your own presence")


def _after(update: PresenceUpdate) -> PresenceRead:
    """Committed first, announced after: work waiting for this user starts promptly."""
    if update.became_available:
        dispatch_supervisor_work(update.presence.user_id)
    return update.presence


@router.post("/users/{user_id}/activity/sessions", status_code=201)
def start_session(user_id: int, body: StartSessionBody, caller: UserDep) -> SessionStarted:
    """Open a tab session; its token authorises that tab's heartbeats."""
    presence.require_self(caller.id, user_id)
    with session_scope() as session:
        token, tab = presence.open_tab(
            session=session, user_id=user_id, now=utcnow(), user_agent=body.user_agent
        )
    return SessionStarted(session_token=token, session=tab)


@router.post("/users/{user_id}/activity/heartbeat")
def heartbeat(user_id: int, body: HeartbeatBody, caller: UserDep) -> PresenceRead:
    """Real activity in a tab (the dashboard's own tabs send theirs over its websocket, to
    the same service). The server's clock is the only one that counts."""
    presence.require_self(caller.id, user_id)
    update = presence.record_activity(
        user_id=user_id, tab_token=body.session_token, now=utcnow(), rules=presence_rules()
    )
    return _after(update)


@router.get("/users/available-supervisors")
def available_supervisors(
    caller: UserDep, category: str | None = Query(default=None, max_length=60)
) -> list[AvailableSupervisor]:
    """Supervisors available now, optionally only those supervising agents of `category`."""
    rules, now = presence_rules(), utcnow()
    with read_scope() as session:
        team = presence.team_presence(session=session, now=now, rules=rules)
        agents = list_agents(session=session)
    categories: dict[int, set[str]] = {}
    for agent in agents:
        if agent.supervisor_id is not None:
            categories.setdefault(agent.supervisor_id, set()).add(agent.category)
    result = []
    for user, state in team:
        if user.role == "viewer" or not presence.is_available_state(state.state, rules):
            continue
        user_categories = sorted(categories.get(user.id, set()))
        if category and category.strip().lower() not in user_categories:
            continue
        result.append(
            AvailableSupervisor(
                id=user.id,
                username=user.username,
                display_name=user.display_name,
                state=state.state,
                categories=user_categories,
            )
        )
    return result


@router.get("/users/{user_id}/activity/state")
def get_state(user_id: int, caller: UserDep) -> PresenceRead:
    _can_read(caller, user_id)
    with read_scope() as session:
        return presence.get_presence(
            session=session, user_id=user_id, now=utcnow(), rules=presence_rules()
        )


@router.post("/users/{user_id}/activity/override")
def set_override(user_id: int, body: OverrideBody, caller: UserDep) -> PresenceRead:
    """Set online / away / offline by hand, optionally until `expires_at`."""
    presence.require_self(caller.id, user_id)
    with session_scope() as session:
        update = presence.set_override(
            session=session,
            user_id=user_id,
            state=body.state,
            expires_at=body.expires_at,
            now=utcnow(),
            rules=presence_rules(),
        )
    return _after(update)


@router.delete("/users/{user_id}/activity/override")
def clear_override(user_id: int, caller: UserDep) -> PresenceRead:
    presence.require_self(caller.id, user_id)
    with session_scope() as session:
        update = presence.clear_override(
            session=session, user_id=user_id, now=utcnow(), rules=presence_rules()
        )
    return _after(update)


@router.get("/users/{user_id}/activity/sessions")
def list_sessions(user_id: int, caller: UserDep) -> list[PresenceSessionRead]:
    _can_read(caller, user_id)
    with read_scope() as session:
        return presence.list_presence_sessions(session=session, user_id=user_id)


@router.get("/users/{user_id}/activity/changes")
def list_changes(user_id: int, caller: UserDep) -> list[PresenceChangeRead]:
    _can_read(caller, user_id)
    with read_scope() as session:
        return presence.list_presence_changes(session=session, user_id=user_id)


@router.post("/activity/sessions/close", status_code=204)
def close_tab(body: HeartbeatBody) -> None:
    """Sent by a closing dashboard tab (navigator.sendBeacon): the tab's token is the credential."""
    try:
        with session_scope() as session:
            update = presence.close_tab(
                session=session,
                tab_token=body.session_token,
                now=utcnow(),
                rules=presence_rules(),
            )
    except NotFound:
        return  # already gone: closing twice is fine
    _after(update)


@router.delete("/activity/sessions/{session_token}")
def end_session(session_token: str, caller: UserDep) -> PresenceRead:
    """End a tab session (the dashboard calls this when the tab closes)."""
    with session_scope() as session:
        update = presence.close_tab(
            session=session,
            tab_token=session_token,
            now=utcnow(),
            rules=presence_rules(),
            caller_id=caller.id,
            caller_is_admin=caller.is_admin,
        )
    return _after(update)
