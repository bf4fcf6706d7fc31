"""Telling screens and waiting agents that something they show or wait for has changed.

A service notes a *topic* on its session ("proposal", "proposal:41", "events:7", …); once the
transaction commits, every listener in this process hears the topics at once
(`on_committed_changes`). Every audited change notes its object's type and id
(services.audit), every run event notes `events:<run id>` (services.executions), so pages
can reload only what changed. On PostgreSQL the same topics are also sent with NOTIFY inside
the transaction (delivered only if it commits), and services.change_relay hands other
processes' topics to the same listeners.

A cheap marker (`change_marker`) also moves whenever anything may have changed; screens
check it now and then as a safety net for changes no listener heard.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable

from sqlalchemy import event, inspect, text
from sqlalchemy.orm import object_session
from sqlmodel import Session, func, select

from models import (
    Agent,
    AuditEvent,
    Execution,
    ExecutionEvent,
    PresenceChange,
    Proposal,
    QueueEntry,
)
from services.db import at_savepoint

EVERYTHING = "*"  # a topic meaning "anything may have changed" (a relay reconnected, …)
# Any change to an agent row, however made (caches of agents' keys forget them); not a kind
# any screen follows. Noted here, where every process that writes agents has it.
AGENT_ROWS_CHANGED = "agent_rows"
NOTIFY_CHANNEL = "supervision_changes"
NOTIFY_MAX_BYTES = 7000  # PostgreSQL refuses payloads of 8000 bytes or more
# Tells this process's own notifications apart from other processes' (the relay skips them).
PROCESS_ID = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def change_marker(*, session: Session) -> str:
    audit = session.exec(select(func.max(AuditEvent.id))).one() or 0
    events = session.exec(select(func.max(ExecutionEvent.id))).one() or 0
    presence = session.exec(select(func.max(PresenceChange.id))).one() or 0
    return f"{audit}.{events}.{presence}"


def topic_kind(topic: str) -> str:
    """ "proposal:41" -> "proposal": the kind of object a topic is about."""
    return topic.split(":", 1)[0]


def touches(topics: Iterable[str], interests: Iterable[str]) -> bool:
    """Whether any topic is one of `interests`, either exactly ("events:7") or by its kind
    ("execution" covers "execution:7"). EVERYTHING touches every interest."""
    wanted = set(interests)
    if not wanted:
        return False
    return any(t == EVERYTHING or t in wanted or topic_kind(t) in wanted for t in topics)


_TOPICS_KEY = "changed_topics"
ChangeListener = Callable[[frozenset[str]], None]
_listeners: list[ChangeListener] = []


def note_change(session: Session, topic: str) -> None:
    """Announce `topic` after this session's transaction commits."""
    session.info.setdefault(_TOPICS_KEY, set()).add(topic)


def on_committed_changes(listener: ChangeListener) -> None:
    """Call `listener(topics)` after each commit that noted a change, and for the topics
    other processes committed (on PostgreSQL). It runs on the committing (or relaying)
    thread and must be quick: wake someone up, never do the work."""
    if listener not in _listeners:
        _listeners.append(listener)


def announce(topics: frozenset[str]) -> None:
    """Hand topics to every listener in this process (commits here, or the relay)."""
    for listener in list(_listeners):
        listener(topics)


def notify_payload(topics: Iterable[str]) -> str:
    """The NOTIFY payload: our process id and the topics, or EVERYTHING when too long."""
    names = sorted(topics)
    body = json.dumps({"from": PROCESS_ID, "topics": names}, separators=(",", ":"))
    if len(body.encode()) > NOTIFY_MAX_BYTES:
        body = json.dumps({"from": PROCESS_ID, "topics": [EVERYTHING]}, separators=(",", ":"))
    return body


def _watch(model: type, kind: str, fields: tuple[str, ...]) -> None:
    """Note "<kind>" and "<kind>:<id>" whenever a row of `model` is inserted, or updated in
    one of `fields`, through the ORM: however it changed, audited or not."""

    def note(target: object) -> None:
        session = object_session(target)
        row_id = getattr(target, "id", None)
        if session is not None and row_id is not None:
            note_change(session, kind)  # type: ignore[arg-type]
            note_change(session, f"{kind}:{row_id}")  # type: ignore[arg-type]

    _WATCHED_TABLES[model.__tablename__] = (kind, fields)  # type: ignore[attr-defined]

    @event.listens_for(model, "after_insert")
    def _created(_mapper, _connection, target) -> None:  # noqa: ANN001
        note(target)

    @event.listens_for(model, "after_update")
    def _moved(_mapper, _connection, target) -> None:  # noqa: ANN001
        state = inspect(target)
        if any(state.attrs[name].history.has_changes() for name in fields):
            note(target)


_WATCHED_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {}


@event.listens_for(Session, "do_orm_execute")
def _set_based_change(orm_execute_state) -> None:  # noqa: ANN001
    """UPDATE and INSERT statements run through the session (claims, conditional moves)
    change rows no ORM object stands for: note their kind (lists reload by kind). An UPDATE
    of bookkeeping columns only (a review claim, a monitor's progress mark) is not shown."""
    statement = orm_execute_state.statement
    table = getattr(getattr(statement, "table", None), "name", "")
    if (
        orm_execute_state.is_update or orm_execute_state.is_delete
    ) and table == Agent.__tablename__:
        note_change(orm_execute_state.session, AGENT_ROWS_CHANGED)
    if not (orm_execute_state.is_update or orm_execute_state.is_insert):
        return
    watched = _WATCHED_TABLES.get(table)
    if watched is None:
        return
    kind, fields = watched
    if orm_execute_state.is_update:
        values = getattr(statement, "_values", None) or {}
        names = {getattr(column, "key", str(column)) for column in values}
        if not names & set(fields):
            return
    note_change(orm_execute_state.session, kind)


def note_inserted(session: Session, table_name: str, row_id: int | None) -> None:
    """Rows inserted with a Core statement (services.rows): "<kind>" and, for one row,
    "<kind>:<id>", as an ORM insert notes them."""
    watched = _WATCHED_TABLES.get(table_name)
    if watched is not None:
        note_change(session, watched[0])
        if row_id is not None:
            note_change(session, f"{watched[0]}:{row_id}")


@event.listens_for(Agent, "after_update")
@event.listens_for(Agent, "after_delete")
def _agent_row_changed(_mapper, _connection, target) -> None:  # noqa: ANN001
    session = object_session(target)
    if session is not None:
        note_change(session, AGENT_ROWS_CHANGED)  # type: ignore[arg-type]


# What lists show of each: a new row, its status, who it is with.
_watch(
    Execution, "execution", ("status", "supervisor_user_id", "supervisor_agent_id", "supervision")
)
_watch(Proposal, "proposal", ("status", "supervisor_id", "risk", "review", "step_kind", "hops"))
_watch(QueueEntry, "queue_entry", ("status", "supervisor_id", "priority"))


@event.listens_for(Session, "before_commit")
def _notify_other_processes(session: Session) -> None:
    if at_savepoint(session):  # a savepoint released: the commit comes later
        return
    session.flush()  # commit flushes after this hook: its changes' topics must be noted first
    topics = session.info.get(_TOPICS_KEY)
    if topics and session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": NOTIFY_CHANNEL, "payload": notify_payload(topics)},
        )


@event.listens_for(Session, "after_commit")
def _announce(session: Session) -> None:
    if at_savepoint(session):
        return
    topics = session.info.pop(_TOPICS_KEY, None)
    if topics:
        announce(frozenset(topics))


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if at_savepoint(session):
        return  # only a savepoint rolled back; announcing a little more is harmless
    session.info.pop(_TOPICS_KEY, None)
