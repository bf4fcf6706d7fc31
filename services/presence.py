"""Presence: who is online, from dashboard heartbeats and manual overrides.

Only the server's clock counts. A user's state is derived from their most recent heartbeat
across live tab sessions; an unexpired override wins over heartbeats. Every state change is
recorded with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import insert, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
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
from services.config import Settings
from services.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from services.presence_cache import SupervisorSnapshot, invalidate_after_commit, presence_cache
from services.security import PRESENCE_TOKEN_PREFIX, new_token, token_hash
from services.users import UserRead


@dataclass(frozen=True)
class PresenceRules:
    away_after: timedelta
    offline_after: timedelta
    away_counts_as_available: bool = False
    # A closed tab's heartbeats still count this long, so a reload (close, then a new tab a
    # second later) records nothing; the transition pass settles it afterwards.
    close_grace: timedelta = timedelta(0)

    @classmethod
    def from_settings(cls, settings: Settings) -> PresenceRules:
        return cls(
            away_after=timedelta(seconds=settings.presence_away_after_s),
            offline_after=timedelta(seconds=settings.presence_offline_after_s),
            away_counts_as_available=settings.away_counts_as_available,
            close_grace=timedelta(seconds=settings.presence_close_grace_s),
        )


class PresenceRead(BaseModel):
    user_id: int
    state: PresenceState
    since: datetime
    last_heartbeat_at: datetime | None
    override_state: PresenceState | None
    override_expires_at: datetime | None


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
    tab_id: int | None = None


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


def effective_state(
    status: PresenceStatus | None, now: datetime, rules: PresenceRules
) -> PresenceState:
    """The state that counts now: an unexpired override, else what the heartbeats say."""
    if status is None:
        return PresenceState.OFFLINE
    if status.override_state is not None and (
        status.override_expires_at is None or status.override_expires_at > now
    ):
        return PresenceState(status.override_state)
    return derived_state(status.last_heartbeat_at, now, rules)


def is_available_state(state: PresenceState, rules: PresenceRules) -> bool:
    return state == PresenceState.ONLINE or (
        rules.away_counts_as_available and state == PresenceState.AWAY
    )


def supervisor_is_available(
    *, session: Session, user_id: int, now: datetime, rules: PresenceRules
) -> bool:
    """The one place that decides whether a human supervisor can watch work now."""
    return snapshot_is_available(presence_cache.get(session, user_id), now, rules)


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


def _read(status: PresenceStatus) -> PresenceRead:
    return PresenceRead.model_validate(status, from_attributes=True)


def _status_for(session: Session, user_id: int, now: datetime) -> PresenceStatus:
    """The user's status row, locked for this transaction.

    On PostgreSQL two processes may settle the same user at once; the row lock makes the
    second one see the first one's result, so a change is recorded once. (SQLite's writer
    lock already serialises them.) A missing row is created first, tolerating a racing twin.
    """
    status = session.get(PresenceStatus, user_id, with_for_update=True)
    if status is None:
        if session.get(User, user_id) is None:
            raise NotFound("no such user")
        return _lock_statuses(session, {user_id}, now)[user_id]
    return status


def _settle(
    session: Session,
    status: PresenceStatus,
    now: datetime,
    rules: PresenceRules,
    reason: str,
    changes: list[dict[str, object]] | None = None,
    user_actor: Actor | None = None,
) -> PresenceUpdate:
    """Store the state that counts now; record and audit a change if there is one.

    A batch passes `changes` to collect the change rows and insert them all at once, and the
    user as `user_actor` when it already has them.
    """
    invalidate_after_commit(session, status.user_id)
    if (
        status.override_state is not None
        and status.override_expires_at is not None
        and status.override_expires_at <= now
    ):
        status.override_state = None
        status.override_expires_at = None
        reason = "expiry"
    new_state = effective_state(status, now, rules)
    old_state = PresenceState(status.state)
    changed = new_state != old_state
    if changed:
        status.state = new_state
        status.since = now
        change = {
            "user_id": status.user_id,
            "from_state": old_state.value,
            "to_state": new_state.value,
            "reason": reason,
            "at": now,
        }
        if changes is None:
            session.execute(insert(PresenceChange), [change])
        else:
            changes.append(change)
        record_audit(
            session=session,
            actor=Actor.system("presence")
            if reason in ("timeout", "expiry")
            else user_actor or _user_actor(session, status.user_id),
            action="presence.changed",
            object_type="user",
            object_id=status.user_id,
            now=now,
            before={"state": old_state.value},
            after={"state": new_state.value, "reason": reason},
        )
    session.add(status)
    became_available = (
        changed
        and is_available_state(new_state, rules)
        and not is_available_state(old_state, rules)
    )
    return PresenceUpdate(
        presence=_read(status), changed=changed, became_available=became_available
    )


def _user_actor(session: Session, user_id: int) -> Actor:
    user = session.get(User, user_id)
    return Actor(ActorType.USER, user_id, user.username if user else str(user_id))


def start_presence_session(
    *, session: Session, user_id: int, now: datetime, user_agent: str = ""
) -> tuple[str, PresenceSessionRead]:
    """Open a tab session; the token is returned once and stored hashed."""
    if session.get(User, user_id) is None:
        raise NotFound("no such user")
    token = new_token(PRESENCE_TOKEN_PREFIX)
    tab = PresenceSession(
        user_id=user_id, token_hash=token_hash(token), user_agent=user_agent[:300], started_at=now
    )
    session.add(tab)
    session.flush()
    return token, PresenceSessionRead.model_validate(tab, from_attributes=True)


def record_heartbeat(
    *, session: Session, user_id: int, session_token: str, now: datetime, rules: PresenceRules
) -> PresenceUpdate:
    """A sign of real activity in one tab; makes its user online (unless overridden)."""
    beat = Heartbeat(user_id, session_token)
    (answer,) = record_heartbeats(session=session, beats=[beat], now=now, rules=rules)
    if isinstance(answer, DomainError):
        raise answer
    return answer


@dataclass(frozen=True)
class Heartbeat:
    user_id: int
    session_token: str


def record_heartbeats(
    *, session: Session, beats: list[Heartbeat], now: datetime, rules: PresenceRules
) -> list[PresenceUpdate | DomainError]:
    """Many tabs' heartbeats at once (a burst of tabs joining), in a few set-based queries.

    One answer per beat, in order: an update, or the error for that beat alone (nothing is
    written for it).
    """
    hashes = {beat.session_token: token_hash(beat.session_token) for beat in beats}
    # Tabs as plain rows and one UPDATE for all of them: a burst of joining tabs is the
    # heaviest write presence makes, and ORM objects cost more than the statements here.
    tabs = {
        row.token_hash: row
        for row in session.exec(
            select(
                PresenceSession.id,
                PresenceSession.user_id,
                PresenceSession.token_hash,
                PresenceSession.ended_at,
            ).where(col(PresenceSession.token_hash).in_(set(hashes.values())))
        )
    }
    answers: list[DomainError | int] = []  # an error, or the live tab's id
    live: dict[int, int] = {}  # tab id -> user id, for the beats accepted
    for beat in beats:
        tab = tabs.get(hashes[beat.session_token])
        if tab is None or tab.user_id != beat.user_id:
            answers.append(NotFound("no such session"))
        elif tab.ended_at is not None:
            answers.append(
                InvalidInput("this session has ended; open a new one", field="session_token")
            )
        else:
            answers.append(tab.id)
            live[tab.id] = tab.user_id
    if not live:
        return [a for a in answers if not isinstance(a, int)]  # all refused
    session.execute(
        update(PresenceSession)
        .where(col(PresenceSession.id).in_(live))
        .values(last_heartbeat_at=now)
    )
    user_ids = set(live.values())
    statuses = _lock_statuses(session, user_ids, now)
    actors = {
        user_id: Actor(ActorType.USER, user_id, username)
        for user_id, username in session.exec(
            select(User.id, User.username).where(col(User.id).in_(user_ids))
        )
    }
    results: list[PresenceUpdate | DomainError] = []
    changes: list[dict[str, object]] = []
    for answer in answers:
        if not isinstance(answer, int):
            results.append(answer)
            continue
        status = statuses[live[answer]]
        status.last_heartbeat_at = now
        settled = _settle(
            session, status, now, rules, "heartbeat", changes, actors.get(status.user_id)
        )
        results.append(replace(settled, tab_id=answer))
    if changes:
        session.execute(insert(PresenceChange), changes)
    return results


def _lock_statuses(
    session: Session, user_ids: set[int], now: datetime
) -> dict[int, PresenceStatus]:
    """Several users' status rows, created where missing and locked (see `_status_for`)."""
    rows = [
        {"user_id": uid, "state": PresenceState.OFFLINE.value, "since": now} for uid in user_ids
    ]
    dialect_insert = (
        postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    )
    session.execute(dialect_insert(PresenceStatus).on_conflict_do_nothing(), rows)
    locked = session.exec(
        select(PresenceStatus)
        .where(col(PresenceStatus.user_id).in_(user_ids))
        .order_by(col(PresenceStatus.user_id))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {status.user_id: status for status in locked}


def end_presence_session(
    *,
    session: Session,
    session_token: str,
    now: datetime,
    rules: PresenceRules,
    caller_id: int,
    caller_is_admin: bool = False,
) -> PresenceUpdate:
    """Close a tab session; with no live session left the user's heartbeat time is cleared."""
    tab = session.exec(
        select(PresenceSession).where(PresenceSession.token_hash == token_hash(session_token))
    ).first()
    if tab is None or (tab.user_id != caller_id and not caller_is_admin):
        raise NotFound("no such session")
    return _end_tab(session, tab, now, rules)


def close_tab(
    *, session: Session, session_token: str, now: datetime, rules: PresenceRules
) -> PresenceUpdate:
    """A closing tab ends its own session: holding its token is the proof."""
    tab = session.exec(
        select(PresenceSession).where(PresenceSession.token_hash == token_hash(session_token))
    ).first()
    if tab is None:
        raise NotFound("no such session")
    return _end_tab(session, tab, now, rules)


def end_stale_tabs(*, session: Session, now: datetime, rules: PresenceRules) -> int:
    """Tabs silent for longer than the offline threshold are ended (closed without a word)."""
    cutoff = now - rules.offline_after
    stale = session.exec(
        select(PresenceSession).where(
            col(PresenceSession.ended_at).is_(None),
            func.coalesce(PresenceSession.last_heartbeat_at, PresenceSession.started_at) < cutoff,
        )
    ).all()
    for tab in stale:
        tab.ended_at = now
        session.add(tab)
    return len(stale)


def _end_tab(
    session: Session, tab: PresenceSession, now: datetime, rules: PresenceRules
) -> PresenceUpdate:
    if tab.ended_at is None:
        tab.ended_at = now
        session.add(tab)
        session.flush()
    status = _status_for(session, tab.user_id, now)
    if rules.close_grace:
        # Counted by `settle_closed_tabs` once the grace has passed, unless a new tab of
        # this user (the same page, reloaded) has taken over by then.
        return PresenceUpdate(presence=_read(status), changed=False, became_available=False)
    status.last_heartbeat_at = _live_tabs_last_heartbeat(session, tab.user_id)
    return _settle(session, status, now, rules, "session_ended")


def _live_tabs_last_heartbeat(session: Session, user_id: int) -> datetime | None:
    return session.exec(
        select(func.max(PresenceSession.last_heartbeat_at)).where(
            PresenceSession.user_id == user_id, col(PresenceSession.ended_at).is_(None)
        )
    ).one()


def settle_closed_tabs(*, session: Session, now: datetime, rules: PresenceRules) -> int:
    """Users whose stored heartbeat came from a tab closed more than the grace ago: their
    state now follows their live tabs only (offline when none is left). Returns how many."""
    live_tabs = aliased(PresenceSession)
    closed_tabs = aliased(PresenceSession)
    live_last = (
        select(func.max(live_tabs.last_heartbeat_at))
        .where(live_tabs.user_id == PresenceStatus.user_id, col(live_tabs.ended_at).is_(None))
        .scalar_subquery()
    )
    last_closed = (
        select(func.max(closed_tabs.ended_at))
        .where(closed_tabs.user_id == PresenceStatus.user_id)
        .scalar_subquery()
    )
    due = session.exec(
        select(PresenceStatus)
        .where(
            col(PresenceStatus.last_heartbeat_at).is_not(None),
            or_(live_last.is_(None), live_last < PresenceStatus.last_heartbeat_at),
            last_closed <= now - rules.close_grace,
        )
        .with_for_update(skip_locked=True)
    ).all()
    for status in due:
        status.last_heartbeat_at = _live_tabs_last_heartbeat(session, status.user_id)
        _settle(session, status, now, rules, "session_ended")
    return len(due)


def set_override(
    *,
    session: Session,
    user_id: int,
    state: str,
    now: datetime,
    rules: PresenceRules,
    expires_at: datetime | None = None,
) -> PresenceUpdate:
    try:
        override = PresenceState(state)
    except ValueError:
        raise InvalidInput("state must be online, away or offline", field="state") from None
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("expires_at needs a timezone", field="expires_at")
        if expires_at <= now:
            raise InvalidInput("expires_at must be in the future", field="expires_at")
    status = _status_for(session, user_id, now)
    status.override_state = override
    status.override_expires_at = expires_at
    return _settle(session, status, now, rules, "override")


def clear_override(
    *, session: Session, user_id: int, now: datetime, rules: PresenceRules
) -> PresenceUpdate:
    status = _status_for(session, user_id, now)
    status.override_state = None
    status.override_expires_at = None
    return _settle(session, status, now, rules, "override_cleared")


def get_presence(
    *, session: Session, user_id: int, now: datetime, rules: PresenceRules
) -> PresenceRead:
    """The current state, computed with the server clock (the stored row may lag a tick)."""
    status = session.get(PresenceStatus, user_id)
    if status is None:
        if session.get(User, user_id) is None:
            raise NotFound("no such user")
        return PresenceRead(
            user_id=user_id,
            state=PresenceState.OFFLINE,
            since=now,
            last_heartbeat_at=None,
            override_state=None,
            override_expires_at=None,
        )
    read = _read(status)
    return read.model_copy(update={"state": effective_state(status, now, rules)})


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
    query = select(PresenceChange)
    if user_id is not None:
        query = query.where(PresenceChange.user_id == user_id)
    rows = session.exec(query.order_by(col(PresenceChange.id).desc()).limit(limit)).all()
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
    order = {PresenceState.ONLINE: 0, PresenceState.AWAY: 1, PresenceState.OFFLINE: 2}
    result = []
    for user, status in rows:
        if status is None:
            read = PresenceRead(
                user_id=user.id or 0,
                state=PresenceState.OFFLINE,
                since=user.created_at,
                last_heartbeat_at=None,
                override_state=None,
                override_expires_at=None,
            )
        else:
            read = _read(status).model_copy(update={"state": effective_state(status, now, rules)})
        result.append((UserRead.model_validate(user, from_attributes=True), read))
    result.sort(key=lambda pair: (order[pair[1].state], pair[0].display_name.lower()))
    return result


def require_self(caller_id: int, user_id: int) -> None:
    """Heartbeats and overrides are only ever for oneself."""
    if caller_id != user_id:
        raise PermissionDenied("you can only change your own presence")
