"""The scheduler's presence pass: move users whose state is due to change, in SQL.

One pass may move ten thousand users (everyone's tab went quiet over lunch). The new state,
the reason and the change rows are computed by the database, so no per-user row crosses into
Python except the change list the audit event carries. The SQL mirrors `derived_state`: a due
row never holds a live override (a live override is never due), so its new state is always the
one its heartbeats give.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, case, insert, literal, null, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from models import PresenceChange, PresenceState, PresenceStatus
from models.types import UTCDateTime
from services.actors import Actor
from services.audit import record_audit
from services.presence import PresenceRules, is_available_state

_status = PresenceStatus.__table__
_changes = PresenceChange.__table__
_CHANGE_FIELDS = ["user_id", "from_state", "to_state", "reason", "at"]
_RECORDED = (_changes.c.user_id, _changes.c.from_state, _changes.c.to_state, _changes.c.reason)


def apply_presence_transitions(
    *, session: Session, now: datetime, rules: PresenceRules
) -> list[int]:
    """Move users whose state is due to change (timeouts, expired overrides).

    Returns the users who became available, so the caller can dispatch their work. Each
    change is a presence_changes row; the pass is one audit event listing every change.
    """
    rules_sql = _PassSql(now, rules)
    if session.get_bind().dialect.name == "postgresql":
        changes = _apply_postgresql(session, rules_sql)
    else:
        changes = _apply_sqlite(session, rules_sql)
    # No cached presence to drop (services/presence_cache.py): a snapshot holds no state,
    # and an expired override it still holds already counts as none (`snapshot_is_available`;
    # the heartbeat fast path sends that user's beats the full way, which refreshes it).
    if changes:
        record_audit(
            session=session,
            actor=Actor.system("presence"),
            action="presence.changed",
            object_type="team",
            object_id=None,
            now=now,
            after={"changes": _grouped(changes)},
        )
    available = {state.value for state in PresenceState if is_available_state(state, rules)}
    return [
        user_id for user_id, old, new, _ in changes if new in available and old not in available
    ]


def _grouped(changes: Sequence[Row[Any]]) -> list[dict[str, object]]:
    """The audit event's list: each kind of move once, with the users who made it (ten
    thousand users moving at once make a few groups, not ten thousand entries)."""
    users: dict[tuple[str, str, str], list[int]] = {}
    for user_id, old, new, reason in changes:
        users.setdefault((old, new, reason), []).append(user_id)
    return [
        {"from": old, "to": new, "reason": reason, "users": sorted(ids)}
        for (old, new, reason), ids in sorted(users.items())
    ]


class _PassSql:
    """The pass's SQL expressions for one `now`, over the presence_status columns given."""

    def __init__(self, now: datetime, rules: PresenceRules) -> None:
        self.now = literal(now, UTCDateTime())
        self.online_cutoff = now - rules.away_after
        self.offline_cutoff = now - rules.offline_after

    def expired(self, row: Any) -> ColumnElement[bool]:
        return and_(row.override_expires_at.is_not(None), row.override_expires_at <= self.now)

    def due(self, row: Any) -> ColumnElement[bool]:
        timed_out = or_(
            and_(
                row.state == PresenceState.ONLINE.value,
                row.last_heartbeat_at < self.online_cutoff,
            ),
            and_(
                row.state == PresenceState.AWAY.value,
                row.last_heartbeat_at < self.offline_cutoff,
            ),
            and_(
                row.state != PresenceState.OFFLINE.value,
                row.last_heartbeat_at.is_(None),
            ),
        )
        return or_(self.expired(row), and_(row.override_state.is_(None), timed_out))

    def new_state(self, row: Any) -> ColumnElement[str]:
        """What the heartbeats say (`derived_state`, in SQL)."""
        return case(
            (row.last_heartbeat_at.is_(None), PresenceState.OFFLINE.value),
            (row.last_heartbeat_at > self.online_cutoff, PresenceState.ONLINE.value),
            (row.last_heartbeat_at > self.offline_cutoff, PresenceState.AWAY.value),
            else_=PresenceState.OFFLINE.value,
        )

    def reason(self, row: Any) -> ColumnElement[str]:
        return case((self.expired(row), "expiry"), else_="timeout")

    def settled_values(
        self, row: Any, old_state: Any, new_state: Any, expired: Any
    ) -> dict[str, Any]:
        """The presence_status columns after the move; `since` only moves with the state."""
        return {
            "state": new_state,
            "since": case((new_state != old_state, self.now), else_=row.since),
            "override_state": case((expired, null()), else_=row.override_state),
            "override_expires_at": case((expired, null()), else_=row.override_expires_at),
        }


def _apply_sqlite(session: Session, sql: _PassSql) -> Sequence[Row[Any]]:
    """Record the changes, then move the rows: two statements in one write transaction.

    The session began IMMEDIATE (services.db), so no other writer can run between them and
    both see the same due rows.
    """
    row = _status.c
    moved = select(row.user_id, row.state, sql.new_state(row), sql.reason(row), sql.now).where(
        sql.due(row), sql.new_state(row) != row.state
    )
    recorded = session.execute(
        insert(_changes).from_select(_CHANGE_FIELDS, moved).returning(*_RECORDED)
    ).all()
    session.execute(
        update(_status)
        .where(sql.due(row))
        .values(sql.settled_values(row, row.state, sql.new_state(row), sql.expired(row)))
    )
    return recorded


def _apply_postgresql(session: Session, sql: _PassSql) -> Sequence[Row[Any]]:
    """One statement: lock the due rows no other process holds, move them, record the changes.

    Several processes may run the pass at once; `SKIP LOCKED` gives each row to exactly one,
    and the change rows come from the same locked snapshot as the update.
    """
    row = _status.c
    due = (
        select(
            row.user_id,
            row.state.label("old_state"),
            sql.new_state(row).label("new_state"),
            sql.reason(row).label("reason"),
            sql.expired(row).label("expired"),
        )
        .where(sql.due(row))
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    settle = (
        update(_status)
        .where(row.user_id == due.c.user_id)
        .values(sql.settled_values(row, due.c.old_state, due.c.new_state, due.c.expired))
        .returning(row.user_id)
        .cte("settle")
    )
    record = (
        insert(_changes)
        .from_select(
            _CHANGE_FIELDS,
            select(due.c.user_id, due.c.old_state, due.c.new_state, due.c.reason, sql.now).where(
                due.c.new_state != due.c.old_state
            ),
        )
        .returning(*_RECORDED)
        .cte("record")
    )
    # PostgreSQL runs a data-modifying CTE whether or not the statement reads it.
    return session.execute(select(*record.c).add_cte(settle)).all()
