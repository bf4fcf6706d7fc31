"""The audit trail: one function appends, one verifies the hash chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy import event as orm_events
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, func, select

from models import AuditEvent, AuditHead
from services.actors import Actor, current_request_id
from services.changes import note_change
from services.db import at_savepoint

GENESIS_HASH = "0" * 64
_PENDING_KEY = "audit_pending"


class AuditEventRead(BaseModel):
    id: int
    at: datetime
    actor_type: str
    actor_id: int | None
    actor_name: str
    action: str
    object_type: str
    object_id: str | None
    before: Any | None
    after: Any | None
    request_id: str | None
    hash: str


@dataclass(frozen=True)
class ChainVerification:
    intact: bool
    checked: int
    head_hash: str
    broken_at_id: int | None = None
    problem: str | None = None


_DIGESTED = (
    "at",
    "actor_type",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "request_id",
)


def _event_digest(prev_hash: str, event: Mapping[str, Any]) -> str:
    """The event's link in the chain, from its columns (a row to insert or a stored event)."""
    body = {name: event[name] for name in _DIGESTED}
    body["at"] = event["at"].isoformat()
    body["actor_type"] = str(event["actor_type"])
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One event to append: who did what to which object, and what it was before and after."""

    actor: Actor
    action: str
    object_type: str
    object_id: int | str | None
    before: Any | None = None
    after: Any | None = None


def record_audit(
    *,
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | str | None,
    now: datetime,
    before: Any | None = None,
    after: Any | None = None,
) -> None:
    """Add an event to the chain as part of the caller's transaction.

    Events are chained and written when the transaction commits (`_chain_at_commit`): the
    chain's head row is locked (FOR UPDATE on PostgreSQL) only for those last statements, not
    for the whole transaction, so writers elsewhere in the app wait for each other as little
    as possible. A transaction that rolls back leaves no event.
    """
    entry = AuditEntry(actor, action, object_type, object_id, before, after)
    note_change(session, object_type)
    if object_id is not None:
        note_change(session, f"{object_type}:{object_id}")
    session.info.setdefault(_PENDING_KEY, []).append((entry, now, current_request_id.get()))


class _HeadHint:
    """The chain's head hash as this process last committed it: a hint, never trusted. An
    append links to it and moves the head with a conditional UPDATE (`WHERE last_hash = the
    hint`); when another process (or thread) moved the head meanwhile, the UPDATE matches no
    row and the append reads the head under its lock instead. Unknown at start, so the first
    append reads the table."""

    def __init__(self) -> None:
        self.last_hash: str | None = None


_head_hint = _HeadHint()
_NEW_HEAD_KEY = "audit_new_head"
_SAVEPOINT_MARKS_KEY = "audit_savepoint_marks"


@orm_events.listens_for(Session, "before_commit")
def _chain_at_commit(session: Session) -> None:
    # SQLAlchemy also fires the commit hooks when a savepoint is released: the events wait
    # for the real commit (written inside a savepoint that then failed, they were lost).
    if at_savepoint(session):
        return
    pending = session.info.pop(_PENDING_KEY, None)
    if pending:
        session.info[_NEW_HEAD_KEY] = _append_to_chain(session, pending)


@orm_events.listens_for(Session, "after_commit")
def _remember_head(session: Session) -> None:
    if at_savepoint(session):
        return
    new_head = session.info.pop(_NEW_HEAD_KEY, None)
    if new_head is not None:
        _head_hint.last_hash = new_head


@orm_events.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    """Where a savepoint starts in the pending events: rolled back, it takes only its own."""
    if transaction.nested:
        marks = session.info.setdefault(_SAVEPOINT_MARKS_KEY, {})
        marks[transaction] = len(session.info.get(_PENDING_KEY, ()))


@orm_events.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    savepoint = session.get_nested_transaction()
    if savepoint is not None:  # only the savepoint rolled back: the transaction goes on
        mark = session.info.get(_SAVEPOINT_MARKS_KEY, {}).pop(savepoint, None)
        pending = session.info.get(_PENDING_KEY)
        if mark is not None and pending:
            del pending[mark:]
        return
    session.info.pop(_PENDING_KEY, None)
    session.info.pop(_NEW_HEAD_KEY, None)
    session.info.pop(_SAVEPOINT_MARKS_KEY, None)


def _link(
    pending: list[tuple[AuditEntry, datetime, str | None]], prev_hash: str
) -> list[dict[str, Any]]:
    """The rows to insert, each linked to the one before it, the first to `prev_hash`."""
    rows = []
    for entry, at, request_id in pending:
        row: dict[str, Any] = {
            "at": at,
            "actor_type": entry.actor.type,
            "actor_id": entry.actor.id,
            "actor_name": entry.actor.name,
            "action": entry.action,
            "object_type": entry.object_type,
            "object_id": None if entry.object_id is None else str(entry.object_id),
            "before": entry.before,
            "after": entry.after,
            "request_id": request_id,
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = _event_digest(prev_hash, row)
        rows.append(row)
    return rows


# Built once: every audited commit runs them.
_MOVE_HEAD_FROM = (
    update(AuditHead)
    .where(col(AuditHead.id) == 1, col(AuditHead.last_hash) == bindparam("expected"))
    .values(last_hash=bindparam("new_hash"))
)
_MOVE_HEAD = update(AuditHead).where(col(AuditHead.id) == 1).values(last_hash=bindparam("new_hash"))
_LOCK_HEAD = select(AuditHead.last_hash).where(col(AuditHead.id) == 1).with_for_update()
_INSERT_EVENTS = insert(AuditEvent)


def _move_head(connection: Connection, rows: list[dict[str, Any]], expected: str | None) -> bool:
    """Move the head to the last row if it is still at `expected` (None: wherever it is)."""
    new_hash = rows[-1]["hash"]
    if expected is None:
        return connection.execute(_MOVE_HEAD, {"new_hash": new_hash}).rowcount == 1
    moved = connection.execute(_MOVE_HEAD_FROM, {"expected": expected, "new_hash": new_hash})
    return moved.rowcount == 1


def _append_to_chain(
    session: Session, pending: list[tuple[AuditEntry, datetime, str | None]]
) -> str:
    """Link every pending event to the head, move the head, insert the events in order; the
    new head's hash.

    The head's row is the chain's lock: moving it (an UPDATE) locks it until the commit on
    every database, so events are inserted only by the writer holding it and ids ascend
    along the chain. Plain rows and Core statements, not ORM objects: a burst of
    heartbeats may audit hundreds, and this runs in every audited commit."""
    connection = session.connection()
    hint = _head_hint.last_hash
    rows = _link(pending, hint) if hint is not None else []
    if not rows or not _move_head(connection, rows, expected=hint):
        head = connection.execute(_LOCK_HEAD).scalar()
        if head is None:
            connection.execute(insert(AuditHead).values(id=1, last_hash=GENESIS_HASH))
            head = GENESIS_HASH
        rows = _link(pending, head)
        _move_head(connection, rows, expected=None)
    connection.execute(_INSERT_EVENTS, rows)  # one executemany, in list order
    return rows[-1]["hash"]


def verify_audit_chain(*, session: Session, batch: int = 2000) -> ChainVerification:
    """Recompute every link; report the first event whose hash or link does not match."""
    prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        rows = session.exec(
            select(AuditEvent)
            .where(AuditEvent.id > last_id)
            .order_by(col(AuditEvent.id))
            .limit(batch)
        ).all()
        if not rows:
            break
        for event in rows:
            if event.prev_hash != prev:
                return ChainVerification(
                    False, checked, prev, event.id, "link to previous event broken"
                )
            stored = {name: getattr(event, name) for name in _DIGESTED}
            if _event_digest(prev, stored) != event.hash:
                return ChainVerification(
                    False, checked, prev, event.id, "event content was altered"
                )
            prev = event.hash
            checked += 1
            last_id = event.id or last_id
    head = session.get(AuditHead, 1)
    if head is not None and head.last_hash != prev:
        return ChainVerification(False, checked, prev, None, "events after the head were removed")
    return ChainVerification(True, checked, prev)


def list_audit_events(
    *,
    session: Session,
    actor_type: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEventRead]:
    """Newest first; `action` and `actor` (a name) match any part, case aside; `since` and
    `until` bound the time (until excluded)."""
    query = select(AuditEvent)
    if actor_type:
        query = query.where(AuditEvent.actor_type == actor_type)
    if actor:
        query = query.where(col(AuditEvent.actor_name).icontains(actor, autoescape=True))
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    if action:
        query = query.where(col(AuditEvent.action).contains(action, autoescape=True))
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id)
    rows = session.exec(query.order_by(col(AuditEvent.id).desc()).offset(offset).limit(limit)).all()
    return [AuditEventRead.model_validate(row, from_attributes=True) for row in rows]


def count_audit_events(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(AuditEvent)).one()


EXPORT_FIELDS = ["id", *_DIGESTED, "hash"]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (`=HYPERLINK(…)`) gets a leading `'`:
    names, reasons and parameters in the audit come from agents and users."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_audit_csv(events: list[AuditEventRead]) -> str:
    """CSV with before/after as JSON text, one event per row, oldest first; no cell starts
    like a formula."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    for event in sorted(events, key=lambda e: e.id):
        row = event.model_dump(mode="json")
        writer.writerow(
            [
                _cell(json.dumps(row[f], sort_keys=True) if f in ("before", "after") else row[f])
                for f in EXPORT_FIELDS
            ]
        )
    return buffer.getvalue()


def export_audit_json(events: list[AuditEventRead]) -> str:
    return json.dumps(
        [e.model_dump(mode="json") for e in sorted(events, key=lambda e: e.id)], indent=1
    )


class ChainHead(BaseModel):
    last_event_id: int
    hash: str


def chain_head(*, session: Session) -> ChainHead:
    """What an auditor keeps: a later `verify` proves nothing before it was changed.

    One statement reads the head and the newest event id (one snapshot): events are inserted
    only by the writer holding the head, in the transaction that moves it."""
    newest = select(func.max(AuditEvent.id)).scalar_subquery()
    row = session.exec(
        select(AuditHead.last_hash, newest).where(col(AuditHead.id) == 1)  # type: ignore[call-overload]
    ).first()
    if row is None:
        return ChainHead(last_event_id=0, hash=GENESIS_HASH)
    return ChainHead(last_event_id=row[1] or 0, hash=row[0])
