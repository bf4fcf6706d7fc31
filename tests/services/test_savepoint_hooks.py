"""Work due at a transaction's commit waits for the real commit, and a savepoint that rolls
back does not make the rest of the transaction forget it (SQLAlchemy fires the commit hooks
when a savepoint is released and the rollback hook when one rolls back)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from models import User
from services.db import session_scope
from services.login_cache import login_cache
from services.presence_memory import invalidate_after_commit, will_invalidate
from tests.factories import make_user

pytestmark = pytest.mark.usefixtures("database")


def a_cached_sign_in() -> str:
    login_cache.clear()
    login_cache.put("a-sign-in", object(), login_cache.generation(), 60)  # type: ignore[arg-type]
    assert login_cache.get("a-sign-in") is not None
    return "a-sign-in"


def fail_a_savepoint(session) -> None:
    with pytest.raises(IntegrityError), session.begin_nested():  # the head row exists
        session.execute(text("INSERT INTO audit_head (id, last_hash) VALUES (1, 'x')"))


def test_a_deactivation_clears_sign_ins_even_after_a_savepoint_failed(now):
    user = make_user(now)
    cached = a_cached_sign_in()
    with session_scope() as session:
        row = session.get(User, user.id)
        row.is_active = False
        session.add(row)
        session.flush()
        fail_a_savepoint(session)
    assert login_cache.get(cached) is None


def test_sign_ins_are_cleared_at_the_commit_not_at_a_savepoints_release(now):
    """Cleared at the release, a sign-in read before the commit (still active) would be
    cached again and outlive the deactivation."""
    user = make_user(now)
    cached = a_cached_sign_in()
    with session_scope() as session:
        with session.begin_nested():
            row = session.get(User, user.id)
            row.is_active = False
            session.add(row)
        assert login_cache.get(cached) is not None  # not committed yet: nothing to clear
        login_cache.put(cached, object(), login_cache.generation(), 60)  # type: ignore[arg-type]
    assert login_cache.get(cached) is None


def test_presence_invalidation_survives_a_failed_savepoint(now):
    user = make_user(now)
    with session_scope() as session:
        invalidate_after_commit(session, user.id)
        fail_a_savepoint(session)
        assert will_invalidate(session, user.id)
