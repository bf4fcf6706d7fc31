"""Per-process cache of resolved sign-in tokens: dashboards poll and heartbeat often, and
a database read per request (off the event loop, in a thread) was most of a heartbeat's cost.

An entry lives until the earliest of its TTL and the sign-in's own expiry. Any committed
change to a user or a sign-in made through this process (sign-out, deactivation, role or
password change) clears the cache at once; the TTL bounds how long a change made by another
process goes unseen.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from datetime import datetime

from sqlalchemy import event
from sqlmodel import Session

from models import LoginSession, User
from services.clock import utcnow
from services.db import at_savepoint, read_scope
from services.group_commit import GroupCommitter
from services.security import token_hash
from services.token_cache import TokenCache
from services.users import UserRead, resolve_logins

TTL_S = 60.0
MAX_ENTRIES = 20_000
_INFO_KEY = "login_cache_clear"

login_cache: TokenCache[UserRead] = TokenCache(TTL_S, MAX_ENTRIES)


def _resolve_batch(session: Session, tokens: list[str]) -> list[object]:
    return list(resolve_logins(session=session, tokens=tokens, now=utcnow()))


# Cache misses of the moment are resolved together, in one query on one thread.
login_resolver = GroupCommitter("login-resolver", apply=_resolve_batch, scope=read_scope)


def resolve_login_batched(token: str) -> Future[tuple[UserRead, datetime]]:
    """The user and sign-in expiry for `token`; AuthenticationFailed when it is not valid."""
    return login_resolver.submit(token)


async def signed_in_user(token: str) -> UserRead:
    """The user signed in with `token`, from the cache when it holds them, else resolved with
    the other look-ups of the moment and cached; AuthenticationFailed when nobody is. The API
    and the dashboard both check every request and event this way."""
    hashed = token_hash(token)
    cached = login_cache.get(hashed)
    if cached is not None:
        return cached
    generation, now = login_cache.generation(), utcnow()
    user, expires_at = await asyncio.wrap_future(resolve_login_batched(token))
    login_cache.put(hashed, user, generation, (expires_at - now).total_seconds())
    return user


@event.listens_for(Session, "after_flush")
def _note_account_changes(session: Session, _context: object) -> None:
    if any(isinstance(obj, (User, LoginSession)) for obj in (*session.dirty, *session.deleted)):
        session.info[_INFO_KEY] = True


@event.listens_for(Session, "after_commit")
def _clear_after_account_changes(session: Session) -> None:
    if at_savepoint(session):
        return
    if session.info.pop(_INFO_KEY, False):
        login_cache.clear()


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    if not at_savepoint(session):
        session.info.pop(_INFO_KEY, None)
