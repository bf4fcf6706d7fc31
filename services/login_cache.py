"""Per-process cache of resolved sign-in tokens: dashboards poll and heartbeat often, and
a database read per request (off the event loop, in a thread) was most of a heartbeat's cost.

An entry lives until the earliest of its TTL and the sign-in's own expiry. Any committed
change to a user or a sign-in made through this process (sign-out, deactivation, role or
password change) clears the cache at once; the TTL bounds how long a change made by another
process goes unseen.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from datetime import datetime

from sqlalchemy import event
from sqlmodel import Session

from models import LoginSession, User
from services.clock import utcnow
from services.db import read_scope
from services.group_commit import GroupCommitter
from services.security import token_hash
from services.users import UserRead, resolve_logins

TTL_S = 60.0
MAX_ENTRIES = 20_000
_INFO_KEY = "login_cache_clear"


class LoginCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[UserRead, float]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, hashed_token: str) -> UserRead | None:
        entry = self._entries.get(hashed_token)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def generation(self) -> int:
        return self._generation

    def put(
        self,
        hashed_token: str,
        user: UserRead,
        expires_at: datetime,
        now: datetime,
        generation: int,
    ) -> None:
        """Store, unless a change was committed since the caller read (`generation`)."""
        lifetime = min(TTL_S, (expires_at - now).total_seconds())
        with self._lock:
            if generation != self._generation or lifetime <= 0:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[hashed_token] = (user, time.monotonic() + lifetime)

    def forget(self, hashed_token: str) -> None:
        with self._lock:
            self._entries.pop(hashed_token, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


login_cache = LoginCache()


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
    login_cache.put(hashed, user, expires_at, now, generation)
    return user


@event.listens_for(Session, "after_flush")
def _note_account_changes(session: Session, _context: object) -> None:
    if any(isinstance(obj, (User, LoginSession)) for obj in (*session.dirty, *session.deleted)):
        session.info[_INFO_KEY] = True


@event.listens_for(Session, "after_commit")
def _clear_after_account_changes(session: Session) -> None:
    if session.info.pop(_INFO_KEY, False):
        login_cache.clear()


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)
