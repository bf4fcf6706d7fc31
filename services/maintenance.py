"""Keeping the database tidy: expired sign-ins and ended sessions are removed."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, text
from sqlmodel import Session, col

from models import LoginSession, PresenceSession

ENDED_SESSION_RETENTION = timedelta(days=7)


def purge_stale_sessions(*, session: Session, now: datetime) -> int:
    """Delete sign-ins that expired or were revoked, and tab sessions ended a week ago."""
    cutoff = now - ENDED_SESSION_RETENTION
    logins = session.exec(  # type: ignore[call-overload]
        delete(LoginSession).where(
            or_(col(LoginSession.expires_at) < now, col(LoginSession.revoked_at) < now)
        )
    )
    tabs = session.exec(  # type: ignore[call-overload]
        delete(PresenceSession).where(col(PresenceSession.ended_at) < cutoff)
    )
    return (logins.rowcount or 0) + (tabs.rowcount or 0)


def database_is_reachable(*, session: Session) -> bool:
    return session.exec(text("SELECT 1")).one()[0] == 1  # type: ignore[call-overload]
