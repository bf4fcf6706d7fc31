"""Sign-in with a limit on failed attempts, shared by the API and the dashboard."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from services import users as user_service
from services.config import get_settings
from services.db import read_scope, session_scope
from services.errors import AuthenticationFailed, RateLimited
from services.rate_limit import SlidingWindow
from services.users import SignIn

WINDOW_S = 15 * 60
_failures: SlidingWindow | None = None


def _window() -> SlidingWindow:
    global _failures
    limit = get_settings().login_attempts_per_15_min
    if _failures is None or _failures.limit != limit:
        _failures = SlidingWindow(limit, WINDOW_S)
    return _failures


def sign_in(*, username: str, password: str, address: str, now: datetime) -> SignIn:
    """Check the password (off the event loop: callers run this in a thread) and start a session.

    Repeated failures for one username from one address are refused with 429 before the
    password is even checked, so guessing stays slow.
    """
    key = f"{username.strip().lower()}|{address}"
    window, clock = _window(), time.monotonic()
    verdict = window.check(key, clock)
    if not verdict.allowed:
        raise RateLimited(
            f"too many failed sign-ins; try again in {verdict.retry_after_s} s",
            retry_after_s=verdict.retry_after_s,
        )
    try:
        with read_scope() as session:
            user = user_service.check_password(
                session=session, username=username, password=password
            )
    except AuthenticationFailed:
        window.record(key, clock)
        raise
    window.reset(key)
    ttl = timedelta(hours=get_settings().session_ttl_hours)
    with session_scope() as session:
        return user_service.start_login_session(session=session, user=user, now=now, ttl=ttl)
