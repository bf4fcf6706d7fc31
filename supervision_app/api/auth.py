"""Resolving the caller of an API request: a signed-in user or an agent with its API key."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services import agents as agent_service
from services.agent_key_cache import cached_agent, resolve_agent
from services.agents import AgentRead
from services.clock import utcnow
from services.config import get_settings
from services.db import session_scope
from services.errors import (
    AgentDisabled,
    AuthenticationFailed,
    DomainError,
    PermissionDenied,
    RateLimited,
)
from services.login_cache import login_cache, signed_in_user
from services.rate_limit import SlidingWindow
from services.security import AGENT_KEY_PREFIX, token_hash
from services.users import UserRead


@dataclass(frozen=True)
class Caller:
    user: UserRead | None = None
    agent: AgentRead | None = None


def bearer_token(request: Request) -> str:
    token = bearer_from_header(request.headers.get("authorization", ""))
    if not token:
        raise AuthenticationFailed("missing bearer token (Authorization: Bearer <token>)")
    return token


def bearer_from_header(header: str) -> str:
    """The token of an `Authorization: Bearer <token>` header; "" when there is none."""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def forget_user_token(token: str) -> None:
    login_cache.forget(token_hash(token))


_agent_budget: SlidingWindow | None = None


_agent_budget_lock = threading.Lock()


def _spend_budget(agent_id: int) -> None:
    """Each agent may make AGENT_REQUESTS_PER_MINUTE requests a minute; then 429."""
    global _agent_budget
    limit = get_settings().agent_requests_per_minute
    with _agent_budget_lock:  # made once: requests arriving together share one budget
        if _agent_budget is None or _agent_budget.limit != limit:
            _agent_budget = SlidingWindow(limit, 60.0)
        budget = _agent_budget
    verdict = budget.hit(f"agent:{agent_id}", time.monotonic())
    if not verdict.allowed:
        raise RateLimited(
            f"request budget exceeded ({limit}/min); retry in {verdict.retry_after_s} s",
            retry_after_s=verdict.retry_after_s,
        )


def _audit_disabled_action(agent_id: int) -> None:
    _spend_budget(agent_id)  # a disabled agent cannot flood the audit trail either
    with session_scope() as session:
        agent_service.record_refused_action(session=session, agent_id=agent_id, now=utcnow())


async def get_caller(request: Request) -> Caller:
    return await caller_of(bearer_token(request))


async def caller_of(token: str, spend: bool = True) -> Caller:
    """Who holds `token` now (AuthenticationFailed, AgentDisabled… when nobody may)."""
    if token.startswith(AGENT_KEY_PREFIX):
        agent = cached_agent(token) or await asyncio.to_thread(resolve_agent, token)
        if spend:
            _spend_budget(agent.id)
        return Caller(agent=agent)
    return Caller(user=await signed_in_user(token))


async def current_user(caller: Annotated[Caller, Depends(get_caller)]) -> UserRead:
    if caller.user is None:
        raise PermissionDenied("this route is for signed-in users, not agents")
    return caller.user


async def current_admin(user: Annotated[UserRead, Depends(current_user)]) -> UserRead:
    if not user.is_admin:
        raise PermissionDenied("only admins may do this")
    return user


async def current_agent(caller: Annotated[Caller, Depends(get_caller)]) -> AgentRead:
    if caller.agent is None:
        raise PermissionDenied("this route is for agents (use the agent's API key)")
    return caller.agent


async def agent_asking_to_act(request: Request) -> AgentRead:
    """The agent of `POST /actions`: a disabled agent's refusal is audited like a STUDENT's."""
    try:
        caller = await get_caller(request)
    except AgentDisabled as refused:
        await asyncio.to_thread(_audit_disabled_action, refused.agent_id)
        raise
    return await current_agent(caller)


async def is_admin_request(request: Request) -> bool:
    """Whether the request carries a signed-in admin's token (never raises: for answers
    that say more to admins, like health)."""
    token = bearer_from_header(request.headers.get("authorization", ""))
    if not token or token.startswith(AGENT_KEY_PREFIX):
        return False
    try:
        caller = await caller_of(token)
    except DomainError:
        return False
    return caller.user is not None and caller.user.is_admin


def still_signed_in(
    request: Request, *, user_id: int | None = None, agent_id: int | None = None
) -> Callable[[], Awaitable[bool]]:
    """For a long answer (a stream): ask later whether this request's token still belongs to
    the same active user, or the same enabled agent (not signed out, deactivated, disabled,
    or a key since rotated)."""
    token = bearer_token(request)

    async def check() -> bool:
        try:
            caller = await caller_of(token, spend=False)
        except DomainError:
            return False
        if caller.user is not None:
            return caller.user.id == user_id and caller.user.is_active
        return caller.agent is not None and caller.agent.id == agent_id

    return check


UserDep = Annotated[UserRead, Depends(current_user)]
AdminDep = Annotated[UserRead, Depends(current_admin)]
AgentDep = Annotated[AgentRead, Depends(current_agent)]
ActingAgentDep = Annotated[AgentRead, Depends(agent_asking_to_act)]


def local_page(path: str) -> str:
    """`path` when it is a page of this dashboard (never another site, an API route or the
    sign-in page itself), else the home page. The dashboard's sign-in and the browser
    sign-in route both send people on with it."""
    if (
        not path.startswith("/")
        or path.startswith(("//", "/\\", "/api", "/login"))
        or any(c == "\\" or not c.isprintable() for c in path)
    ):
        return "/"
    return path
