"""A cheap marker that moves whenever anything a screen shows may have changed.

Every state change writes an audit event, and every report an execution event, so the
largest ids of those tables (plus presence changes) tell a screen when to reload.
"""

from __future__ import annotations

from sqlmodel import Session, func, select

from models import AuditEvent, ExecutionEvent, PresenceChange


def change_marker(*, session: Session) -> str:
    audit = session.exec(select(func.max(AuditEvent.id))).one() or 0
    events = session.exec(select(func.max(ExecutionEvent.id))).one() or 0
    presence = session.exec(select(func.max(PresenceChange.id))).one() or 0
    return f"{audit}.{events}.{presence}"
