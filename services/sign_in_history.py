"""Failed sign-ins kept in the database for the limit's window, so that restarting the app
does not lift a lockout (services/sign_in.py counts in memory and loads these at start)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from models import SignInFailure

KEEP = timedelta(minutes=15)


def record_failure(*, session: Session, keys: list[str], now: datetime) -> None:
    for key in keys:
        session.add(SignInFailure(key=key[:200], at=now))


def recent_failures(*, session: Session, now: datetime) -> list[tuple[str, datetime]]:
    """(key, when) of failures within the window, oldest first."""
    rows = session.exec(
        select(SignInFailure.key, SignInFailure.at)
        .where(col(SignInFailure.at) > now - KEEP)
        .order_by(col(SignInFailure.at))
    ).all()
    return [(key, at) for key, at in rows]


def forget_old(*, session: Session, now: datetime) -> int:
    result = session.exec(  # type: ignore[call-overload]
        delete(SignInFailure).where(col(SignInFailure.at) <= now - KEEP)
    )
    return result.rowcount or 0
