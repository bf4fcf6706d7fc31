"""The scheduler's presence pass: the moves nobody's request makes.

Timeouts (no activity), overrides reaching their end, tabs that went silent, and closed tabs
whose grace has passed. Each move is recorded at the moment it happened (services/presence.py
`due_moves`), so a pass that runs late still writes a true history. The pass runs every
`PresenceRules.pass_interval_s`, derived from the thresholds.

One pass may move ten thousand users (everyone's tab went quiet over lunch): the due rows are
found in SQL, their moves worked out on plain values, and written with one executemany UPDATE
and one INSERT. Each UPDATE is conditional on the state the pass read, so a row a request
settled meanwhile is left alone; on PostgreSQL `SKIP LOCKED` gives each due row to one process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func

from models import PresenceChange, PresenceSession, PresenceState, PresenceStatus
from services.actors import Actor
from services.audit import record_audit
from services.changes import note_change
from services.presence import (
    Move,
    PresenceRules,
    StatusValues,
    due_moves,
    is_available_state,
    settle_closed_tab,
)
from services.presence_memory import invalidate_after_commit

_status = PresenceStatus.__table__


def run_presence_pass(*, session: Session, now: datetime, rules: PresenceRules) -> list[int]:
    """End silent tabs, settle closed ones, then move everyone whose state is due to change.

    Returns the users who became available, so the caller can dispatch their work.
    """
    end_silent_tabs(session=session, now=now, rules=rules)
    became_available = settle_closed_tabs(session=session, now=now, rules=rules)
    return became_available + apply_due_moves(session=session, now=now, rules=rules)


def end_silent_tabs(*, session: Session, now: datetime, rules: PresenceRules) -> int:
    """Tabs silent for longer than the offline threshold are ended (closed without a word).
    Their user's state already follows the timeouts; this only keeps the tab list true."""
    cutoff = now - rules.offline_after
    last_sign = func.coalesce(PresenceSession.last_heartbeat_at, PresenceSession.started_at)
    ended = session.execute(
        update(PresenceSession)
        .where(col(PresenceSession.ended_at).is_(None), last_sign < cutoff)
        .values(ended_at=now, ended_because="silent")
    )
    return ended.rowcount or 0


def settle_closed_tabs(*, session: Session, now: datetime, rules: PresenceRules) -> list[int]:
    """Users whose recorded activity came from a tab closed more than the grace ago: their
    state now follows their live tabs only, moved at the moment the tab closed. (A tab ended
    for its silence is no close: its user's state already follows the timeouts, and an idle
    but open tab keeps "appear online".)"""
    live_tabs = aliased(PresenceSession)
    closed_tabs = aliased(PresenceSession)
    live_last = (
        select(func.max(live_tabs.last_heartbeat_at))
        .where(live_tabs.user_id == PresenceStatus.user_id, col(live_tabs.ended_at).is_(None))
        .scalar_subquery()
    )
    last_closed = (
        select(func.max(closed_tabs.ended_at))
        .where(
            closed_tabs.user_id == PresenceStatus.user_id,
            closed_tabs.ended_because == "closed",
        )
        .scalar_subquery()
    )
    due = session.execute(
        select(PresenceStatus, last_closed)
        .where(
            col(PresenceStatus.last_heartbeat_at).is_not(None),
            or_(live_last.is_(None), live_last < PresenceStatus.last_heartbeat_at),
            last_closed <= now - rules.close_grace,
        )
        .with_for_update(skip_locked=True)
    ).all()
    returned = []
    for status, closed_at in due:
        update_ = settle_closed_tab(
            session=session, status=status, closed_at=closed_at, now=now, rules=rules
        )
        if update_.became_available:
            returned.append(status.user_id)
    return returned


def apply_due_moves(*, session: Session, now: datetime, rules: PresenceRules) -> list[int]:
    """Timeouts and ended overrides, for everyone due. Returns who became available."""
    due = _due_rows(session, now, rules)
    moved: list[tuple[StatusValues, str, list[Move]]] = []
    for row in due:
        values = StatusValues(**row._mapping)
        old_state = values.state
        moves = due_moves(values, now, rules)
        if moves or values.override_state != row.override_state:
            moved.append((values, old_state, moves))
    if not moved:
        return []
    row = _status.c
    session.execute(
        update(_status)
        .where(row.user_id == bindparam("uid"), row.state == bindparam("old_state"))
        .values(
            state=bindparam("new_state"),
            since=bindparam("new_since"),
            override_state=bindparam("new_override"),
            override_expires_at=bindparam("new_expires"),
        )
        .execution_options(synchronize_session=False),
        [
            {
                "uid": values.user_id,
                "old_state": old_state,
                "new_state": values.state,
                "new_since": values.since,
                "new_override": values.override_state,
                "new_expires": values.override_expires_at,
            }
            for values, old_state, _ in moved
        ],
    )
    changes = [move.as_row(values.user_id) for values, _, moves in moved for move in moves]
    if changes:
        session.execute(insert(PresenceChange), changes)
        note_change(session, "presence")
        record_audit(
            session=session,
            actor=Actor.system("presence"),
            action="presence.changed",
            object_type="team",
            object_id=None,
            now=now,
            after={"changes": _grouped(moved)},
        )
    invalidate_after_commit(session, *(values.user_id for values, _, _ in moved))
    return [
        values.user_id
        for values, old_state, moves in moved
        if moves
        and is_available_state(PresenceState(values.state), rules)
        and not is_available_state(PresenceState(old_state), rules)
    ]


def _due_rows(session: Session, now: datetime, rules: PresenceRules) -> list[Any]:
    """Rows with an override that has ended, or whose activity has timed out for their
    state (a superset is harmless: `due_moves` finds nothing for a row not due)."""
    row = _status.c
    quiet_since = now - rules.away_after
    silent_since = now - rules.offline_after
    override_ended = and_(row.override_expires_at.is_not(None), row.override_expires_at <= now)
    timed_out = and_(
        row.override_state.is_(None),
        or_(
            and_(
                row.state == PresenceState.ONLINE.value,
                or_(row.last_heartbeat_at.is_(None), row.last_heartbeat_at <= quiet_since),
            ),
            and_(
                row.state == PresenceState.AWAY.value,
                or_(row.last_heartbeat_at.is_(None), row.last_heartbeat_at <= silent_since),
            ),
        ),
    )
    query = select(
        row.user_id,
        row.state,
        row.since,
        row.last_heartbeat_at,
        row.override_state,
        row.override_expires_at,
    ).where(or_(override_ended, timed_out))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query).all())


def _grouped(moved: list[tuple[StatusValues, str, list[Move]]]) -> list[dict[str, object]]:
    """The audit event's list: each kind of move once, with the users who made it (ten
    thousand users moving at once make a few groups, not ten thousand entries)."""
    users: dict[tuple[str, str, str], list[int]] = {}
    for values, _, moves in moved:
        for move in moves:
            key = (move.from_state.value, move.to_state.value, move.reason)
            users.setdefault(key, []).append(values.user_id)
    return [
        {"from": old, "to": new, "reason": reason, "users": sorted(ids)}
        for (old, new, reason), ids in sorted(users.items())
    ]
