"""What one process keeps in memory about presence, per database: supervisors' snapshots for
the governance check, and the dashboard beats that only move a timestamp.

Snapshots. Agents ask to act far more often than presence changes. A supervisor's snapshot
(active account, override, last activity) is kept for at most `TTL_S` seconds; availability
is worked out from it with the caller's clock, so a cached snapshot still turns "away" on time.
A change committed through this process drops the user's entry at once (`after_commit`); one
committed by another process sharing the database is seen within `TTL_S`.

Beats. Most beats come from a tab the database already counts as live, of a user it counts as
online by activity: they change nothing but two timestamps. Measured on the dashboard's own
path (bench/presence.py), writing each of them in its own transaction queued 300 tabs beating
every second behind the database's writer lock. Such a beat is kept here and written with the
others of the moment by `flush_beats`, which the scheduler runs every `FLUSH_EVERY_S` and the
app runs once more at shutdown (after which none is kept); where no flush has run in the last
`FLUSHER_GONE_S` (a process without the scheduler, or whose scheduler died), no beat is kept.
Loss window: a crash loses the timestamps kept since the last flush (a second's worth; up to
`FLUSHER_GONE_S` if the scheduler had died first); the user then looks idle that much early,
which can only make them unavailable sooner (fail closed). A beat is kept here only while the
database confirmed its user online by activity less than half the away threshold ago, so the
stored activity never lags by more than that plus a second, and every beat that could change
a state goes to the database.

Each database (connection pool) has its own memory, so another database starts empty: nothing
needs resetting between tests or after the engine is rebuilt.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from time import monotonic

from sqlalchemy import bindparam, event, or_, update
from sqlalchemy.pool import Pool
from sqlmodel import Session, col, select

from models import PresenceSession, PresenceState, PresenceStatus, User, UserRole
from services.config import get_settings
from services.db import at_savepoint

TTL_S = 2.0
FLUSH_EVERY_S = 1.0
# No flush for this long: nobody is flushing (no scheduler in this process), so no beat is kept.
FLUSHER_GONE_S = 3 * FLUSH_EVERY_S
CLOSED_TABS_KEPT = 10_000
_INFO_KEY = "presence_memory_invalidate"


@dataclass(frozen=True, slots=True)
class SupervisorSnapshot:
    active: bool  # an active account that may supervise (admin or supervisor)
    override_state: PresenceState | None
    override_expires_at: datetime | None
    last_heartbeat_at: datetime | None


@dataclass(frozen=True, slots=True)
class OnlineByActivity:
    """The database said, at `confirmed_at`, that this user is online by activity alone."""

    since: datetime
    confirmed_at: datetime


class PresenceMemory:
    def __init__(self, ttl_s: float = TTL_S) -> None:
        self._ttl_s = ttl_s
        self._snapshots: dict[int, tuple[SupervisorSnapshot, float]] = {}  # user -> (, expiry)
        self._generations: dict[int, int] = {}  # per user: bumped by each invalidation
        self._live_tabs: dict[str, tuple[int, int]] = {}  # token hash -> (user id, tab id)
        self._online: dict[int, OnlineByActivity] = {}
        self._pending: dict[int, tuple[int, datetime]] = {}  # tab id -> (user id, beat at)
        # Tabs closed here: never remembered as live again (a beat racing the close).
        self._closed_tabs: dict[str, None] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._flushed_at: float | None = None  # monotonic time of the last flush

    # Snapshots for the governance check.

    def snapshot(self, session: Session, user_id: int) -> SupervisorSnapshot:
        entry = self._snapshots.get(user_id)
        if entry is not None and entry[1] > monotonic():
            return entry[0]
        generation = self._generations.get(user_id, 0)
        snapshot = load_snapshots(session, [user_id])[user_id]
        if get_settings().governance_cache:
            with self._lock:
                if generation == self._generations.get(user_id, 0):
                    self._snapshots[user_id] = (snapshot, monotonic() + self._ttl_s)
        return snapshot

    def invalidate(self, user_ids: set[int]) -> None:
        """These users' presence changed: drop what is known of them (their next beat goes
        to the database)."""
        with self._lock:
            for user_id in user_ids:
                self._generations[user_id] = self._generations.get(user_id, 0) + 1
                self._snapshots.pop(user_id, None)
                self._online.pop(user_id, None)

    # Beats that only move a timestamp.

    def take_beat(
        self, user_id: int, hashed_token: str, now: datetime, away_after_s: float
    ) -> OnlineByActivity | None:
        """Keep this beat for the next flush, if it can change nothing but timestamps and a
        flush is sure to come (one ran lately)."""
        tab = self._live_tabs.get(hashed_token)
        online = self._online.get(user_id)
        if tab is None or tab[0] != user_id or online is None:
            return None
        # A flush may confirm the user a moment after this beat's own time: still current.
        if (now - online.confirmed_at).total_seconds() >= away_after_s / 2:
            return None
        with self._lock:
            flushed_at = self._flushed_at
            if flushed_at is None or monotonic() - flushed_at > FLUSHER_GONE_S:
                return None  # no flush is sure to come
            if self._online.get(user_id) is not online:  # invalidated meanwhile
                return None
            self._pending[tab[1]] = (user_id, now)
        return online

    def generation(self, user_id: int) -> int:
        return self._generations.get(user_id, 0)

    def remember_beat(
        self,
        hashed_token: str,
        user_id: int,
        tab_id: int,
        online: OnlineByActivity | None,
        generation: int,
    ) -> None:
        """A beat went through the database (committed): remember the tab as live, and the user
        as online by activity when they are (`online`) and nothing about them changed since
        `generation` was read before the beat (else their next beat goes to the database)."""
        with self._lock:
            if hashed_token not in self._closed_tabs:
                self._live_tabs[hashed_token] = (user_id, tab_id)
            if online is None or generation != self._generations.get(user_id, 0):
                self._online.pop(user_id, None)
            else:
                self._online[user_id] = online

    def forget_tab(self, hashed_token: str) -> None:
        with self._lock:
            self._closed_tabs[hashed_token] = None
            while len(self._closed_tabs) > CLOSED_TABS_KEPT:
                del self._closed_tabs[next(iter(self._closed_tabs))]
            tab = self._live_tabs.pop(hashed_token, None)
            if tab is not None:
                self._pending.pop(tab[1], None)

    def flush_beats(self, session: Session, now: datetime, *, last: bool = False) -> int:
        """Write the kept beats (this session's transaction must commit them). Tabs ended
        meanwhile are forgotten; users still online by activity stay confirmed as of `now`.
        `last`: no flush follows (shutdown), so from now on no beat is kept."""
        with self._flushing:
            with self._lock:
                self._flushed_at = None if last else monotonic()
                pending, self._pending = self._pending, {}
            if not pending:
                return 0
            try:
                written = _write_beats(session, pending)
            except BaseException:
                with self._lock:  # kept for the next flush
                    for tab_id, beat in pending.items():
                        self._pending.setdefault(tab_id, beat)
                raise
            stamped_tabs, still_online = written
            with self._lock:
                for hashed, (_, tab_id) in list(self._live_tabs.items()):
                    if tab_id in pending and tab_id not in stamped_tabs:
                        del self._live_tabs[hashed]  # ended elsewhere: the database decides
                for user_id in {user_id for user_id, _ in pending.values()}:
                    known = self._online.get(user_id)
                    if known is None:
                        continue
                    if user_id in still_online:
                        self._online[user_id] = OnlineByActivity(known.since, now)
                    else:
                        del self._online[user_id]
            return len(pending)


def _write_beats(
    session: Session, pending: dict[int, tuple[int, datetime]]
) -> tuple[set[int], set[int]]:
    """Each tab's and user's latest beat, never moving a stored one back, in two executemany
    UPDATEs. Returns the tabs still live and the users the database counts as online by
    activity."""
    _stamp(session, PresenceSession, {tab: at for tab, (_, at) in pending.items()})
    # A tab stamped here stays locked until this transaction ends, so no close can end it
    # meanwhile; a tab closed before is not stamped, and its beats no longer count.
    ended = set(
        session.exec(
            select(PresenceSession.id).where(
                col(PresenceSession.id).in_(pending), col(PresenceSession.ended_at).is_not(None)
            )
        ).all()
    )
    latest: dict[int, datetime] = {}
    for tab_id, (user_id, at) in pending.items():
        if tab_id not in ended:
            latest[user_id] = max(at, latest.get(user_id, at))
    _stamp(session, PresenceStatus, latest)
    online = session.exec(
        select(PresenceStatus.user_id).where(
            col(PresenceStatus.user_id).in_(latest),
            col(PresenceStatus.state) == PresenceState.ONLINE.value,
            col(PresenceStatus.override_state).is_(None),
        )
    ).all()
    return set(pending) - ended, set(online)


def _stamp(
    session: Session,
    model: type[PresenceSession] | type[PresenceStatus],
    beats: dict[int, datetime],
) -> None:
    """Set each row's last activity (keyed by its primary key), never moving it back and
    never on an ended tab, in one executemany UPDATE."""
    if not beats:
        return
    table = model.__table__
    stored = table.c.last_heartbeat_at
    conditions = [
        list(table.primary_key.columns)[0] == bindparam("key"),
        or_(stored.is_(None), stored < bindparam("at")),
    ]
    if model is PresenceSession:
        conditions.append(table.c.ended_at.is_(None))
    session.execute(
        update(table).where(*conditions).values(last_heartbeat_at=bindparam("at")),
        # In key order: two processes flushing the same rows lock them in the same order.
        [{"key": key, "at": at} for key, at in sorted(beats.items())],
    )


_memories: weakref.WeakKeyDictionary[Pool, PresenceMemory] = weakref.WeakKeyDictionary()
_memories_lock = threading.Lock()


def memory_for(session_or_pool: Session | Pool) -> PresenceMemory:
    """The memory of one database. Keyed by its connection pool, which an engine and its
    per-scope variants (`execution_options`) share."""
    pool = (
        session_or_pool.get_bind().pool if isinstance(session_or_pool, Session) else session_or_pool
    )
    memory = _memories.get(pool)
    if memory is None:
        with _memories_lock:
            memory = _memories.setdefault(pool, PresenceMemory())
    return memory


def presence_snapshot(session: Session, user_id: int) -> SupervisorSnapshot:
    """The supervisor's snapshot, from this database's memory when fresh."""
    return memory_for(session).snapshot(session, user_id)


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


def will_invalidate(session: Session, user_id: int) -> bool:
    """Whether this session's commit will invalidate the user (a change it made)."""
    return user_id in session.info.get(_INFO_KEY, ())


def invalidate_after_commit(session: Session, *user_ids: int) -> None:
    """Forget what is known of these users once this session's transaction commits."""
    session.info.setdefault(_INFO_KEY, set()).update(user_ids)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if at_savepoint(session):
        return
    user_ids = session.info.pop(_INFO_KEY, None)
    if user_ids:
        memory_for(session).invalidate(user_ids)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if not at_savepoint(session):
        session.info.pop(_INFO_KEY, None)
