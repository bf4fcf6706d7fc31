"""Presence: who is online, from dashboard tabs' activity and manual overrides.

Only the server's clock counts. A user's state follows their most recent activity across live
tabs; an unexpired override wins over activity. Every move is recorded with the moment it
happened and its reason (`MOVE_REASONS`), so the history reads true even when the scheduler's
pass notices a timeout late.

One entry point says "this tab was active at T", for the dashboard's websocket event and the
HTTP route alike: `record_activity`. Most beats only move a timestamp: those are kept in
memory and written together about once a second (services/presence_memory.py, which says why
and what a crash can lose). Any other beat goes to the database at once (`write_activity`):
a beat that changes a state (a return from away, a first tab) locks the user's row and
records the move before it is answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel
from sqlalchemy import insert, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, func, select

from models import (
    ActorType,
    PresenceChange,
    PresenceSession,
    PresenceState,
    PresenceStatus,
    User,
)
from services.actors import Actor
from services.audit import record_audit
from services.changes import note_change
from services.config import Settings
from services.db import get_engine, session_scope
from services.errors import InvalidInput, NotFound, PermissionDenied
from services.presence_memory import (
    OnlineByActivity,
    SupervisorSnapshot,
    invalidate_after_commit,
    memory_for,
    presence_snapshot,
    will_invalidate,
)
from services.security import PRESENCE_TOKEN_PREFIX, new_token, token_hash
from services.users import UserRead

# Why a user's state moved; the history shows these.
MOVE_REASONS = {
    "heartbeat": "activity in a dashboard tab",
    "timeout": "no activity for the configured time",
    "tab_closed": "their last dashboard tab closed",
    "override": "set by hand",
    "override_cleared": "went back to following activity",
    "override_expired": "a manual state reached its end",
    # Recorded before 2026-12-02 (migration 0010), kept readable.
    "session_ended": "a dashboard tab closed",
    "expiry": "a manual state reached its end",
}
# Moves nobody made at that moment: recorded by the system, not in the user's name.
SYSTEM_REASONS = frozenset({"timeout", "override_expired"})
LONGEST_OVERRIDE = timedelta(days=366)
_DOWNWARD = {PresenceState.ONLINE: 0, PresenceState.AWAY: 1, PresenceState.OFFLINE: 2}


@dataclass(frozen=True)
class PresenceRules:
    away_after: timedelta
    offline_after: timedelta
    away_counts_as_available: bool = False
    # A closed tab's activity still counts this long, so a reload (close, then a new tab a
    # second later) records nothing; the scheduler's pass settles it afterwards.
    close_grace: timedelta = timedelta(0)
    # "Appear online" always ends: a supervisor who left must not count as available forever.
    online_override_max: timedelta = timedelta(hours=8)

    @classmethod
    def from_settings(cls, settings: Settings) -> PresenceRules:
        return cls(
            away_after=timedelta(seconds=settings.presence_away_after_s),
            offline_after=timedelta(
                seconds=max(settings.presence_offline_after_s, settings.presence_away_after_s)
            ),
            away_counts_as_available=settings.away_counts_as_available,
            close_grace=timedelta(seconds=settings.presence_close_grace_s),
            online_override_max=timedelta(minutes=settings.presence_online_override_max_minutes),
        )

    @property
    def pass_interval_s(self) -> float:
        """How often the scheduler's pass must run for reads and dispatch to follow these
        thresholds closely: a quarter of the shortest of them, between 1 and 15 seconds. (The
        history is exact whatever the interval: each move carries its own moment.)"""
        spans = [self.away_after, self.offline_after - self.away_after, self.close_grace]
        shortest = min(span.total_seconds() for span in spans if span.total_seconds() > 0)
        return min(15.0, max(1.0, shortest / 4))


class PresenceRead(BaseModel):
    user_id: int
    state: PresenceState
    since: datetime
    last_heartbeat_at: datetime | None = None
    override_state: PresenceState | None = None
    override_expires_at: datetime | None = None


class PresenceChangeRead(BaseModel):
    id: int
    user_id: int
    from_state: PresenceState
    to_state: PresenceState
    reason: str
    at: datetime


class PresenceSessionRead(BaseModel):
    id: int
    user_id: int
    user_agent: str
    started_at: datetime
    last_heartbeat_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class PresenceUpdate:
    """What a presence call changed; `became_available` tells the caller to dispatch work."""

    presence: PresenceRead
    changed: bool
    became_available: bool


@dataclass(frozen=True)
class Move:
    from_state: PresenceState
    to_state: PresenceState
    reason: str
    at: datetime

    def as_row(self, user_id: int) -> dict[str, object]:
        return {
            "user_id": user_id,
            "from_state": self.from_state.value,
            "to_state": self.to_state.value,
            "reason": self.reason,
            "at": self.at,
        }


class StatusLike(Protocol):
    """A presence_status row: the ORM object, or plain columns from the pass's query."""

    state: str
    since: datetime
    last_heartbeat_at: datetime | None
    override_state: str | None
    override_expires_at: datetime | None


@dataclass
class StatusValues:
    """A status row's columns as plain values, to work out its moves without an ORM object."""

    user_id: int
    state: str
    since: datetime
    last_heartbeat_at: datetime | None
    override_state: str | None
    override_expires_at: datetime | None


def derived_state(
    last_heartbeat_at: datetime | None, now: datetime, rules: PresenceRules
) -> PresenceState:
    if last_heartbeat_at is None:
        return PresenceState.OFFLINE
    idle = now - last_heartbeat_at
    if idle < rules.away_after:
        return PresenceState.ONLINE
    if idle < rules.offline_after:
        return PresenceState.AWAY
    return PresenceState.OFFLINE


def _override_holds(status: StatusLike, now: datetime) -> bool:
    return status.override_state is not None and (
        status.override_expires_at is None or status.override_expires_at > now
    )


def effective_state(
    status: StatusLike | None, now: datetime, rules: PresenceRules
) -> PresenceState:
    """The state that counts now: an unexpired override, else what the activity says."""
    if status is None:
        return PresenceState.OFFLINE
    if _override_holds(status, now):
        return PresenceState(status.override_state)
    return derived_state(status.last_heartbeat_at, now, rules)


def due_moves(status: StatusLike, until: datetime, rules: PresenceRules) -> list[Move]:
    """The moves nobody's request made, due by `until`, each at the moment it happened: an
    override reaching its end, then the activity timeouts (online → away at the last activity
    plus `away_after`, → offline at plus `offline_after`). Applies them to `status`."""
    moves: list[Move] = []
    state = PresenceState(status.state)
    start = status.since
    if status.override_state is not None:
        expires = status.override_expires_at
        if expires is None or expires > until:
            return moves
        status.override_state = None
        status.override_expires_at = None
        start = max(start, expires)
        after = derived_state(status.last_heartbeat_at, expires, rules)
        if after != state:
            moves.append(Move(state, after, "override_expired", start))
            state = after
    last = status.last_heartbeat_at
    steps = (
        [(start, PresenceState.OFFLINE)]
        if last is None
        else [
            (last + rules.away_after, PresenceState.AWAY),
            (last + rules.offline_after, PresenceState.OFFLINE),
        ]
    )
    for at, to_state in steps:
        if at > until:
            break
        if _DOWNWARD[to_state] > _DOWNWARD[state]:
            moves.append(Move(state, to_state, "timeout", max(at, start)))
            state = to_state
    _apply(status, moves)
    return moves


def _apply(status: StatusLike, moves: list[Move]) -> None:
    if moves:
        status.state = moves[-1].to_state.value
        status.since = moves[-1].at


def is_available_state(state: PresenceState, rules: PresenceRules) -> bool:
    return state == PresenceState.ONLINE or (
        rules.away_counts_as_available and state == PresenceState.AWAY
    )


def supervisor_is_available(
    *, session: Session, user_id: int, now: datetime, rules: PresenceRules
) -> bool:
    """The one place that decides whether a human supervisor can watch work now."""
    return snapshot_is_available(presence_snapshot(session, user_id), now, rules)


def snapshot_is_available(
    snapshot: SupervisorSnapshot, now: datetime, rules: PresenceRules
) -> bool:
    """Availability from a cached snapshot: pure, so the cached governance check does no I/O."""
    if not snapshot.active:
        return False
    if snapshot.override_state is not None and (
        snapshot.override_expires_at is None or snapshot.override_expires_at > now
    ):
        return is_available_state(snapshot.override_state, rules)
    return is_available_state(derived_state(snapshot.last_heartbeat_at, now, rules), rules)


def _read(status: StatusLike, user_id: int) -> PresenceRead:
    return PresenceRead(
        user_id=user_id,
        state=PresenceState(status.state),
        since=status.since,
        last_heartbeat_at=status.last_heartbeat_at,
        override_state=PresenceState(status.override_state) if status.override_state else None,
        override_expires_at=status.override_expires_at,
    )


def _values(status: PresenceStatus) -> StatusValues:
    return StatusValues(
        user_id=status.user_id,
        state=str(status.state),
        since=status.since,
        last_heartbeat_at=status.last_heartbeat_at,
        override_state=str(status.override_state) if status.override_state else None,
        override_expires_at=status.override_expires_at,
    )


def _read_now(status: PresenceStatus, now: datetime, rules: PresenceRules) -> PresenceRead:
    """The state as of `now` with its true `since`, though the stored row may lag the pass."""
    values = _values(status)
    due_moves(values, now, rules)
    return _read(values, status.user_id)


def _status_for(session: Session, user_id: int, now: datetime) -> PresenceStatus:
    """The user's status row, locked for this transaction.

    On PostgreSQL two processes may settle the same user at once; the row lock makes the
    second one see the first one's result, so a move is recorded once. (SQLite's writer
    lock already serialises them.) A missing row is created first, tolerating a racing twin.
    """
    status = session.get(PresenceStatus, user_id, with_for_update=True)
    if status is not None:
        return status
    if session.get(User, user_id) is None:
        raise NotFound("no such user")
    dialect_insert = (
        postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    )
    row = {"user_id": user_id, "state": PresenceState.OFFLINE.value, "since": now}
    session.execute(dialect_insert(PresenceStatus).on_conflict_do_nothing(), [row])
    status = session.get(PresenceStatus, user_id, with_for_update=True, populate_existing=True)
    assert status is not None  # just inserted, or inserted by the racing twin
    return status


def _settle(
    session: Session,
    status: PresenceStatus,
    *,
    event_at: datetime,
    now: datetime,
    rules: PresenceRules,
    reason: str,
    change: Callable[[PresenceStatus], None],
) -> PresenceUpdate:
    """Catch up with the moves due before the event, apply the event's `change` at
    `event_at`, record the move it makes (if any), then the moves due since; store and audit.
    """
    invalidate_after_commit(session, status.user_id)
    moves = due_moves(status, event_at, rules)
    before = PresenceState(status.state)  # what really held just before the event
    change(status)
    state, after = PresenceState(status.state), effective_state(status, event_at, rules)
    if after != state:
        event_move = Move(state, after, reason, event_at)
        moves.append(event_move)
        _apply(status, [event_move])
    moves.extend(due_moves(status, now, rules))
    session.add(status)
    if moves:
        session.execute(insert(PresenceChange), [move.as_row(status.user_id) for move in moves])
        _audit(session, status.user_id, moves, now)
        note_change(session, "presence")
    final = PresenceState(status.state)
    return PresenceUpdate(
        presence=_read(status, status.user_id),
        changed=bool(moves),
        became_available=is_available_state(final, rules) and not is_available_state(before, rules),
    )


def _audit(session: Session, user_id: int, moves: list[Move], now: datetime) -> None:
    user = session.get(User, user_id)
    person = Actor(ActorType.USER, user_id, user.username if user else str(user_id))
    for move in moves:
        record_audit(
            session=session,
            actor=Actor.system("presence") if move.reason in SYSTEM_REASONS else person,
            action="presence.changed",
            object_type="user",
            object_id=user_id,
            now=now,
            before={"state": move.from_state.value},
            after={"state": move.to_state.value, "reason": move.reason, "at": move.at.isoformat()},
        )


def open_tab(
    *, session: Session, user_id: int, now: datetime, user_agent: str = ""
) -> tuple[str, PresenceSessionRead]:
    """Open a tab session; the token is returned once and stored hashed. It says nothing of
    activity yet: the tab's first `record_activity` does."""
    if session.get(User, user_id) is None:
        raise NotFound("no such user")
    token = new_token(PRESENCE_TOKEN_PREFIX)
    tab = PresenceSession(
        user_id=user_id, token_hash=token_hash(token), user_agent=user_agent[:300], started_at=now
    )
    session.add(tab)
    session.flush()
    return token, PresenceSessionRead.model_validate(tab, from_attributes=True)


class TabEnded(InvalidInput):
    """The tab's session has ended (closed, or silent too long): the tab opens a new one."""

    def __init__(self) -> None:
        super().__init__("this session has ended; open a new one", field="session_token")


def record_activity(
    *, user_id: int, tab_token: str, now: datetime, rules: PresenceRules
) -> PresenceUpdate:
    """This tab was active at `now`: the one way activity enters presence (a unit of work: it
    opens its own transaction when it needs one).

    A beat that can change nothing but timestamps is kept for the next flush and answered at
    once; any other is written and committed before it is answered.
    """
    hashed = token_hash(tab_token)
    memory = memory_for(get_engine().pool)
    online = memory.take_beat(user_id, hashed, now, rules.away_after.total_seconds())
    if online is not None:
        return PresenceUpdate(
            presence=_online_read(user_id, online.since, now), changed=False, became_available=False
        )
    generation = memory.generation(user_id)
    with session_scope() as session:
        tab_id, update_ = write_activity(
            session=session, user_id=user_id, tab_token=tab_token, now=now, rules=rules
        )
        if will_invalidate(session, user_id):  # this beat's own change, not someone else's
            generation += 1
    read = update_.presence
    by_activity = read.state == PresenceState.ONLINE and read.override_state is None
    memory.remember_beat(
        hashed,
        user_id,
        tab_id,
        OnlineByActivity(read.since, now) if by_activity else None,
        generation,
    )
    return update_


def flush_activity(*, now: datetime, last: bool = False) -> int:
    """Write the beats kept in memory (the scheduler runs this every second, and the app at
    shutdown with `last`, after which every beat is written at once). Returns how many tabs'
    beats were written."""
    with session_scope() as session:
        return memory_for(session).flush_beats(session, now, last=last)


def _online_read(user_id: int, since: datetime, now: datetime) -> PresenceRead:
    return PresenceRead(
        user_id=user_id, state=PresenceState.ONLINE, since=since, last_heartbeat_at=now
    )


def write_activity(
    *, session: Session, user_id: int, tab_token: str, now: datetime, rules: PresenceRules
) -> tuple[int, PresenceUpdate]:
    """The database step of `record_activity`; returns the tab's id and the update.

    A beat from a live tab of a user who is online by activity only moves two timestamps
    (conditional UPDATEs: the condition is the proof nothing else changes). Anything else —
    the first beat, a return from away or offline, an override in place — locks the user's
    row and settles it, recording the moves.
    """
    tab_id = session.execute(
        update(PresenceSession)
        .where(
            col(PresenceSession.token_hash) == token_hash(tab_token),
            col(PresenceSession.user_id) == user_id,
            col(PresenceSession.ended_at).is_(None),
        )
        .values(last_heartbeat_at=now)
        .returning(PresenceSession.id)
    ).scalar()
    if tab_id is None:
        raise _why_not_live(session, user_id, tab_token)
    online = session.execute(
        update(PresenceStatus)
        .where(
            col(PresenceStatus.user_id) == user_id,
            col(PresenceStatus.state) == PresenceState.ONLINE.value,
            col(PresenceStatus.override_state).is_(None),
            col(PresenceStatus.last_heartbeat_at) > now - rules.away_after,
            col(PresenceStatus.last_heartbeat_at) <= now,
        )
        .values(last_heartbeat_at=now)
        .returning(PresenceStatus.since)
    ).first()
    if online is not None:
        read = _online_read(user_id, online.since, now)
        return tab_id, PresenceUpdate(presence=read, changed=False, became_available=False)

    def active(status: PresenceStatus) -> None:
        status.last_heartbeat_at = max(status.last_heartbeat_at or now, now)

    status = _status_for(session, user_id, now)
    return tab_id, _settle(
        session,
        status,
        event_at=now,
        now=now,
        rules=rules,
        reason="heartbeat",
        change=active,
    )


def _why_not_live(session: Session, user_id: int, tab_token: str) -> Exception:
    ended_at = session.exec(
        select(PresenceSession.ended_at).where(
            PresenceSession.token_hash == token_hash(tab_token),
            PresenceSession.user_id == user_id,
        )
    ).first()
    return NotFound("no such session") if ended_at is None else TabEnded()


def close_tab(
    *,
    session: Session,
    tab_token: str,
    now: datetime,
    rules: PresenceRules,
    caller_id: int | None = None,
    caller_is_admin: bool = False,
) -> PresenceUpdate:
    """End a tab session. The closing tab itself proves it by holding the token
    (`caller_id` None: the beacon); a signed-in caller must own the tab or be an admin."""
    tab = session.exec(
        select(PresenceSession).where(PresenceSession.token_hash == token_hash(tab_token))
    ).first()
    if tab is None or (caller_id is not None and tab.user_id != caller_id and not caller_is_admin):
        raise NotFound("no such session")
    memory_for(session).forget_tab(tab.token_hash)
    if tab.ended_at is None:
        tab.ended_at = now
        tab.ended_because = "closed"
        session.add(tab)
        session.flush()
    if rules.close_grace:
        # Settled by the scheduler's pass once the grace has passed, unless a new tab of
        # this user (the same page, reloaded) has taken over by then.
        read = get_presence(session=session, user_id=tab.user_id, now=now, rules=rules)
        return PresenceUpdate(presence=read, changed=False, became_available=False)
    status = _status_for(session, tab.user_id, now)
    return settle_closed_tab(session=session, status=status, closed_at=now, now=now, rules=rules)


def settle_closed_tab(
    *,
    session: Session,
    status: PresenceStatus,
    closed_at: datetime,
    now: datetime,
    rules: PresenceRules,
) -> PresenceUpdate:
    """After a tab closed at `closed_at`, the user's state follows their live tabs only;
    with none left, "appear online" ends too (nobody is there to appear)."""
    live_last = live_tabs_last_activity(session, status.user_id)

    def follow_live_tabs(row: PresenceStatus) -> None:
        row.last_heartbeat_at = live_last
        if live_last is None and row.override_state == PresenceState.ONLINE.value:
            row.override_state = None
            row.override_expires_at = None

    return _settle(
        session,
        status,
        event_at=min(closed_at, now),
        now=now,
        rules=rules,
        reason="tab_closed",
        change=follow_live_tabs,
    )


def live_tabs_last_activity(session: Session, user_id: int) -> datetime | None:
    return session.exec(
        select(func.max(PresenceSession.last_heartbeat_at)).where(
            PresenceSession.user_id == user_id, col(PresenceSession.ended_at).is_(None)
        )
    ).one()


def set_override(
    *,
    session: Session,
    user_id: int,
    state: str,
    now: datetime,
    rules: PresenceRules,
    expires_at: datetime | None = None,
) -> PresenceUpdate:
    """Appear online, away or offline by hand. "Online" needs an end (at most
    `online_override_max` away): availability must not outlast the person."""
    try:
        override = PresenceState(state)
    except ValueError:
        raise InvalidInput("state must be online, away or offline", field="state") from None
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("expires_at needs a timezone", field="expires_at")
        if expires_at <= now:
            raise InvalidInput("expires_at must be in the future", field="expires_at")
        if expires_at - now > LONGEST_OVERRIDE:
            raise InvalidInput("expires_at can be at most a year away", field="expires_at")
    if override == PresenceState.ONLINE:
        longest = rules.online_override_max
        if expires_at is None:
            raise InvalidInput("appearing online needs an end: give expires_at", field="expires_at")
        if expires_at - now > longest:
            raise InvalidInput(
                f"appearing online can last at most {_duration(longest)}", field="expires_at"
            )

    def set_it(status: PresenceStatus) -> None:
        status.override_state = override
        status.override_expires_at = expires_at

    status = _status_for(session, user_id, now)
    return _settle(
        session, status, event_at=now, now=now, rules=rules, reason="override", change=set_it
    )


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"


def clear_override(
    *, session: Session, user_id: int, now: datetime, rules: PresenceRules
) -> PresenceUpdate:
    def clear_it(status: PresenceStatus) -> None:
        status.override_state = None
        status.override_expires_at = None

    status = _status_for(session, user_id, now)
    return _settle(
        session,
        status,
        event_at=now,
        now=now,
        rules=rules,
        reason="override_cleared",
        change=clear_it,
    )


def get_presence(
    *, session: Session, user_id: int, now: datetime, rules: PresenceRules
) -> PresenceRead:
    """The state as of `now` by the server clock (the stored row may lag the pass a tick)."""
    status = session.get(PresenceStatus, user_id)
    if status is None:
        if session.get(User, user_id) is None:
            raise NotFound("no such user")
        return PresenceRead(user_id=user_id, state=PresenceState.OFFLINE, since=now)
    return _read_now(status, now, rules)


def list_presence_sessions(*, session: Session, user_id: int) -> list[PresenceSessionRead]:
    rows = session.exec(
        select(PresenceSession)
        .where(PresenceSession.user_id == user_id)
        .order_by(col(PresenceSession.started_at).desc())
        .limit(50)
    ).all()
    return [PresenceSessionRead.model_validate(r, from_attributes=True) for r in rows]


def list_presence_changes(
    *, session: Session, user_id: int | None = None, limit: int = 50
) -> list[PresenceChangeRead]:
    """The history, latest moment first."""
    query = select(PresenceChange)
    if user_id is not None:
        query = query.where(PresenceChange.user_id == user_id)
    order = (col(PresenceChange.at).desc(), col(PresenceChange.id).desc())
    rows = session.exec(query.order_by(*order).limit(limit)).all()
    return [PresenceChangeRead.model_validate(r, from_attributes=True) for r in rows]


def team_presence(
    *, session: Session, now: datetime, rules: PresenceRules
) -> list[tuple[UserRead, PresenceRead]]:
    """Every active user with their current state, most present first."""
    rows = session.exec(
        select(User, PresenceStatus)
        .join(PresenceStatus, col(PresenceStatus.user_id) == User.id, isouter=True)
        .where(User.is_active == True)  # noqa: E712
    ).all()
    result = []
    for user, status in rows:
        if status is None:
            read = PresenceRead(
                user_id=user.id or 0, state=PresenceState.OFFLINE, since=user.created_at
            )
        else:
            read = _read_now(status, now, rules)
        result.append((UserRead.model_validate(user, from_attributes=True), read))
    result.sort(key=lambda pair: (_DOWNWARD[pair[1].state], pair[0].display_name.lower()))
    return result


def require_self(caller_id: int, user_id: int) -> None:
    """Activity and overrides are only ever for oneself."""
    if caller_id != user_id:
        raise PermissionDenied("you can only change your own presence")
