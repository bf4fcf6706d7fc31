"""Per-process cache of supervisors' presence, so the governance check needs no presence query.

Entries are dropped after the commit of any change to that user's presence or account (the
writer registers the user on its session; the `after_commit` hook invalidates). A generation
counter stops a reader that loaded before a change from storing the old value after it.
The cache is per process: with several app processes, set GOVERNANCE_CACHE=false.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event
from sqlmodel import Session, col, select

from models import PresenceState, PresenceStatus, User, UserRole
from services.config import get_settings

_INFO_KEY = "presence_cache_invalidate"


@dataclass(frozen=True, slots=True)
class SupervisorSnapshot:
    active: bool  # an active account that may supervise (admin or supervisor)
    override_state: PresenceState | None
    override_expires_at: datetime | None
    last_heartbeat_at: datetime | None


class PresenceCache:
    def __init__(self) -> None:
        self._entries: dict[int, SupervisorSnapshot] = {}
        self._generations: dict[int, int] = {}  # per user: bumped by each invalidation
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return get_settings().governance_cache

    def get(self, session: Session, user_id: int) -> SupervisorSnapshot:
        entry = self._entries.get(user_id)
        if entry is not None:
            return entry
        generation = self._generations.get(user_id, 0)
        entry = load_snapshots(session, [user_id])[user_id]
        with self._lock:
            if self.enabled and generation == self._generations.get(user_id, 0):
                self._entries[user_id] = entry
        return entry

    def warm(self, session: Session, user_ids: set[int]) -> None:
        """Load several users' snapshots at once (after a batch of heartbeats)."""
        if not self.enabled or not user_ids:
            return
        generations = {uid: self._generations.get(uid, 0) for uid in user_ids}
        snapshots = load_snapshots(session, list(user_ids))
        with self._lock:
            for uid, generation in generations.items():
                if generation == self._generations.get(uid, 0):
                    self._entries[uid] = snapshots[uid]

    def peek(self, user_id: int) -> SupervisorSnapshot | None:
        return self._entries.get(user_id)

    def invalidate(self, user_ids: set[int]) -> None:
        with self._lock:
            for user_id in user_ids:
                self._generations[user_id] = self._generations.get(user_id, 0) + 1
                self._entries.pop(user_id, None)

    def clear(self) -> None:
        with self._lock:
            for user_id in self._entries:
                self._generations[user_id] = self._generations.get(user_id, 0) + 1
            self._entries.clear()


def load_snapshots(session: Session, user_ids: list[int]) -> dict[int, SupervisorSnapshot]:
    """Snapshots of these users (unknown ones: inactive, no presence), in two queries of plain
    columns: a burst of joining tabs warms hundreds at once."""
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


presence_cache = PresenceCache()


def invalidate_after_commit(session: Session, *user_ids: int) -> None:
    """Drop these users' cached presence once this session's transaction commits."""
    session.info.setdefault(_INFO_KEY, set()).update(user_ids)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    user_ids = session.info.pop(_INFO_KEY, None)
    if user_ids:
        presence_cache.invalidate(user_ids)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)
