"""Supervisors' presence, cached briefly so the governance check rarely needs a query.

Agents ask to act far more often than presence changes. A snapshot of a supervisor (active
account, override, last activity) is kept for at most `TTL_S` seconds; availability is worked
out from it with the caller's clock, so a cached snapshot still turns "away" on time.

- A change committed through this process drops the user's entry at once (`after_commit`).
- A change committed by another process sharing the database is seen within `TTL_S`.
- A generation counter stops a reader that loaded before a change from storing the old value.

Each database (connection pool) has its own cache, so another database starts with an empty
one: nothing needs resetting between tests or after the engine is rebuilt.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from time import monotonic

from sqlalchemy import event
from sqlalchemy.pool import Pool
from sqlmodel import Session, col, select

from models import PresenceState, PresenceStatus, User, UserRole
from services.config import get_settings

TTL_S = 2.0
_INFO_KEY = "presence_cache_invalidate"


@dataclass(frozen=True, slots=True)
class SupervisorSnapshot:
    active: bool  # an active account that may supervise (admin or supervisor)
    override_state: PresenceState | None
    override_expires_at: datetime | None
    last_heartbeat_at: datetime | None


class PresenceCache:
    def __init__(self, ttl_s: float = TTL_S) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[int, tuple[SupervisorSnapshot, float]] = {}  # user -> (, expiry)
        self._generations: dict[int, int] = {}  # per user: bumped by each invalidation
        self._lock = threading.Lock()

    def get(self, session: Session, user_id: int) -> SupervisorSnapshot:
        entry = self._entries.get(user_id)
        if entry is not None and entry[1] > monotonic():
            return entry[0]
        generation = self._generations.get(user_id, 0)
        snapshot = load_snapshots(session, [user_id])[user_id]
        if get_settings().governance_cache:
            with self._lock:
                if generation == self._generations.get(user_id, 0):
                    self._entries[user_id] = (snapshot, monotonic() + self._ttl_s)
        return snapshot

    def invalidate(self, user_ids: set[int]) -> None:
        with self._lock:
            for user_id in user_ids:
                self._generations[user_id] = self._generations.get(user_id, 0) + 1
                self._entries.pop(user_id, None)


_caches: weakref.WeakKeyDictionary[Pool, PresenceCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(session: Session) -> PresenceCache:
    """The cache of the database this session talks to. Keyed by the connection pool, which
    an engine and its per-scope variants (`execution_options`) share."""
    pool = session.get_bind().pool
    cache = _caches.get(pool)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(pool, PresenceCache())
    return cache


def presence_snapshot(session: Session, user_id: int) -> SupervisorSnapshot:
    """The supervisor's snapshot, from this database's cache when fresh."""
    return cache_for(session).get(session, user_id)


def load_snapshots(session: Session, user_ids: list[int]) -> dict[int, SupervisorSnapshot]:
    """Snapshots of these users (unknown ones: inactive, no presence), in two queries."""
    users = select(User.id, User.is_active, User.role).where(col(User.id).in_(user_ids))
    # A viewer (a supervisor demoted, say) or a deactivated account supervises nobody.
    active = {
        uid: bool(is_active) and role != UserRole.VIEWER
        for uid, is_active, role in session.execute(users).all()
    }
    statuses = select(
        PresenceStatus.user_id,
        PresenceStatus.override_state,
        PresenceStatus.override_expires_at,
        PresenceStatus.last_heartbeat_at,
    ).where(col(PresenceStatus.user_id).in_(user_ids))
    presence = {row[0]: tuple(row[1:]) for row in session.execute(statuses).all()}
    snapshots = {}
    for uid in user_ids:
        override, expires, last = presence.get(uid, (None, None, None))
        snapshots[uid] = SupervisorSnapshot(
            active=bool(active.get(uid)),
            override_state=PresenceState(override) if override else None,
            override_expires_at=expires,
            last_heartbeat_at=last,
        )
    return snapshots


def invalidate_after_commit(session: Session, *user_ids: int) -> None:
    """Drop these users' cached presence once this session's transaction commits."""
    session.info.setdefault(_INFO_KEY, set()).update(user_ids)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    user_ids = session.info.pop(_INFO_KEY, None)
    if user_ids:
        cache_for(session).invalidate(user_ids)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)
