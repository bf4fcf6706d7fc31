"""Sign-in with a limit on failed attempts, shared by the API and the dashboard."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta

from services import sign_in_history
from services import users as user_service
from services.clock import utcnow
from services.config import get_settings
from services.db import read_scope, session_scope
from services.errors import AuthenticationFailed, RateLimited
from services.rate_limit import SlidingWindow
from services.users import SignIn, UserRead

WINDOW_S = 15 * 60
# Password checks (argon2: ~50 ms of a core each) run a few at a time: a spray of sign-ins
# cannot take every core from the API. One more waits at most HASH_WAIT_S, then is told to
# come back.
HASH_SLOTS = max(1, (os.cpu_count() or 2) // 2)
HASH_WAIT_S = 2.0
_hashing = threading.BoundedSemaphore(HASH_SLOTS)
_failures: SlidingWindow | None = None
_per_address: SlidingWindow | None = None


_windows_lock = threading.Lock()


def _windows() -> tuple[SlidingWindow, SlidingWindow]:
    """The counts, made once (under a lock: 40 first attempts at once must share them)."""
    with _windows_lock:
        return _windows_locked()


def _windows_locked() -> tuple[SlidingWindow, SlidingWindow]:
    global _failures, _per_address
    settings = get_settings()
    fresh = (
        _failures is None
        or _per_address is None
        or _failures.limit != settings.login_attempts_per_15_min
        or _per_address.limit != settings.login_attempts_per_address_15_min
    )
    if fresh:
        per_user = SlidingWindow(settings.login_attempts_per_15_min, WINDOW_S)
        per_address = SlidingWindow(settings.login_attempts_per_address_15_min, WINDOW_S)
        _load_recent_failures(per_user, per_address)
        _failures, _per_address = per_user, per_address
    assert _failures is not None and _per_address is not None
    return _failures, _per_address


def _load_recent_failures(per_user: SlidingWindow, per_address: SlidingWindow) -> None:
    """Failures of the last window, kept in the database: a restart lifts no lockout."""
    now, clock = utcnow(), time.monotonic()
    with read_scope() as session:
        failures = sign_in_history.recent_failures(session=session, now=now)
    for key, at in failures:
        when = clock - (now - at).total_seconds()
        kind, _, name = key.partition(":")
        (per_user if kind == "user" else per_address).record(name, when)


def clear() -> None:
    """Forget every count (tests start each case afresh)."""
    global _failures, _per_address
    _failures = _per_address = None


def _refused(retry_after_s: int, what: str) -> RateLimited:
    return RateLimited(f"{what}; try again in {retry_after_s} s", retry_after_s=retry_after_s)


def sign_in(*, username: str, password: str, address: str, now: datetime) -> SignIn:
    """Check the password (off the event loop: callers run this in a thread) and start a
    session: the API's bearer token."""
    user = verify_credentials(username=username, password=password, address=address, now=now)
    ttl = timedelta(hours=get_settings().session_ttl_hours)
    with session_scope() as session:
        return user_service.start_login_session(session=session, user=user, now=now, ttl=ttl)


def sign_in_code(*, username: str, password: str, address: str, now: datetime) -> str:
    """The dashboard's sign-in: the same checks, then a one-time code the browser exchanges
    for its HttpOnly cookie (the token never reaches the page's scripts)."""
    user = verify_credentials(username=username, password=password, address=address, now=now)
    with session_scope() as session:
        return user_service.issue_sign_in_code(session=session, user=user, now=now)


def verify_credentials(*, username: str, password: str, address: str, now: datetime) -> UserRead:
    """The user, when the password is right and no limit is reached.

    Each attempt is counted before the password is checked, in one step (of 40 parallel
    guesses, only the limit's worth get checked): per username and address, and per address
    across usernames. A successful sign-in takes its attempt back.
    """
    per_user, per_address = _windows()
    user_key, clock = f"{username.strip().lower()}|{address}", time.monotonic()
    verdict = per_user.hit(user_key, clock)
    if not verdict.allowed:
        raise _refused(verdict.retry_after_s, "too many failed sign-ins")
    verdict = per_address.hit(address, clock)
    if not verdict.allowed:
        per_user.refund(user_key, clock)
        raise _refused(verdict.retry_after_s, "too many sign-ins from this address")
    if not _hashing.acquire(timeout=HASH_WAIT_S):
        per_user.refund(user_key, clock)
        per_address.refund(address, clock)
        raise _refused(1, "too many sign-ins at once")
    try:
        with read_scope() as session:
            user = user_service.check_password(
                session=session, username=username, password=password
            )
    except AuthenticationFailed:
        _hashing.release()  # before the write: a busy database must not hold a hashing slot
        with session_scope() as session:
            sign_in_history.record_failure(
                session=session, keys=[f"user:{user_key}", f"address:{address}"], now=now
            )
        raise
    except BaseException:
        _hashing.release()
        raise
    _hashing.release()
    per_user.reset(user_key)
    per_address.refund(address, clock)
    return user
