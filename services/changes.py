"""Telling screens that something they show has changed.

A cheap marker moves whenever anything a screen shows may have changed: every state change
writes an audit event, and every report an execution event, so the largest ids of those
tables (plus presence changes) tell a screen when to reload. Other processes' changes are
seen this way. Changes committed in this process are also announced at once (`note_change`).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlmodel import Session, func, select

from models import AuditEvent, ExecutionEvent, PresenceChange


def change_marker(*, session: Session) -> str:
    audit = session.exec(select(func.max(AuditEvent.id))).one() or 0
    events = session.exec(select(func.max(ExecutionEvent.id))).one() or 0
    presence = session.exec(select(func.max(PresenceChange.id))).one() or 0
    return f"{audit}.{events}.{presence}"


# Announcing committed changes to whoever shows them (in this process): a service notes a
# topic on its session; once the transaction commits, every listener hears the topics.
_TOPICS_KEY = "changed_topics"
ChangeListener = Callable[[frozenset[str]], None]
_listeners: list[ChangeListener] = []


def note_change(session: Session, topic: str) -> None:
    """Announce `topic` ("presence", …) after this session's transaction commits."""
    session.info.setdefault(_TOPICS_KEY, set()).add(topic)


def on_committed_changes(listener: ChangeListener) -> None:
    """Call `listener(topics)` after each commit that noted a change. It runs on the
    committing thread and must be quick (wake someone up, never do the work)."""
    if listener not in _listeners:
        _listeners.append(listener)


@event.listens_for(Session, "after_commit")
def _announce(session: Session) -> None:
    topics = session.info.pop(_TOPICS_KEY, None)
    if topics:
        for listener in list(_listeners):
            listener(frozenset(topics))


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_TOPICS_KEY, None)
