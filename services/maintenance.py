"""Keeping the database tidy: expired sign-ins, ended sessions, old notices and links go."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, text
from sqlmodel import Session, col

from models import DecisionLink, LoginSession, OutgoingNotice, PresenceSession

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


def purge_old_notices(*, session: Session, now: datetime) -> int:
    """Delete decision links a week past their expiry, and notices sent or given up on a week
    ago: the audit keeps what was decided and through which channel."""
    cutoff = now - ENDED_SESSION_RETENTION
    links = session.exec(  # type: ignore[call-overload]
        delete(DecisionLink).where(col(DecisionLink.expires_at) < cutoff)
    )
    notices = session.exec(  # type: ignore[call-overload]
        delete(OutgoingNotice).where(
            or_(col(OutgoingNotice.sent_at) < cutoff, col(OutgoingNotice.failed_at) < cutoff)
        )
    )
    return (links.rowcount or 0) + (notices.rowcount or 0)


def database_is_reachable(*, session: Session) -> bool:
    return session.exec(text("SELECT 1")).one()[0] == 1  # type: ignore[call-overload]
