"""The scheduler's presence pass, computed in SQL: every kind of due user in one pass."""

from datetime import timedelta

import pytest
from sqlmodel import select

from models import AuditEvent, PresenceChange
from services import presence, presence_transitions
from services.audit import verify_audit_chain
from services.db import read_scope, session_scope
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import make_user

pytestmark = pytest.mark.usefixtures("database")


def beat(user_id, at):
    with session_scope() as session:
        token, _ = presence.start_presence_session(session=session, user_id=user_id, now=at)
        presence.record_heartbeat(
            session=session, user_id=user_id, session_token=token, now=at, rules=RULES
        )


def override(user_id, state, at, expires_at=None):
    with session_scope() as session:
        presence.set_override(
            session=session,
            user_id=user_id,
            state=state,
            expires_at=expires_at,
            now=at,
            rules=RULES,
        )


def status(user_id, at):
    with read_scope() as session:
        return presence.get_presence(session=session, user_id=user_id, now=at, rules=RULES)


def run_pass(at):
    with session_scope() as session:
        return presence_transitions.apply_presence_transitions(session=session, now=at, rules=RULES)


def test_one_pass_moves_each_due_user_once_and_leaves_the_rest(now):
    quiet, gone, kept, held, freed, busy = (make_user(now) for _ in range(6))
    beat(quiet.id, now)  # last heard 6 min before the pass: away
    beat(gone.id, now - timedelta(minutes=10))  # 16 min: straight from online to offline
    override(kept.id, "online", now, expires_at=now + timedelta(minutes=3))
    beat(kept.id, now + timedelta(minutes=2))  # override expired, heartbeats still say online
    override(held.id, "offline", now)  # no expiry: the pass leaves it alone
    override(freed.id, "offline", now, expires_at=now + timedelta(minutes=5))
    beat(freed.id, now + timedelta(minutes=4))  # override expired: back online, available
    beat(busy.id, now + timedelta(minutes=5))  # heard recently: nothing to do
    kept_since = status(kept.id, now).since
    with read_scope() as session:
        before = {c.id for c in session.exec(select(PresenceChange)).all()}

    at = now + timedelta(minutes=6)
    became_available = run_pass(at)

    assert became_available == [freed.id]
    with read_scope() as session:
        made = [c for c in session.exec(select(PresenceChange)).all() if c.id not in before]
        audited = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "presence.changed", AuditEvent.actor_type == "system")
            .order_by(AuditEvent.id.desc())
        ).first()
        chain = verify_audit_chain(session=session)
    expected = {
        (quiet.id, "online", "away", "timeout"),
        (gone.id, "online", "offline", "timeout"),
        (freed.id, "offline", "online", "expiry"),
    }
    assert {(c.user_id, c.from_state, c.to_state, c.reason) for c in made} == expected
    assert all(c.at == at for c in made)
    assert audited.after["changes"] == [
        {"from": "offline", "to": "online", "reason": "expiry", "users": [freed.id]},
        {"from": "online", "to": "away", "reason": "timeout", "users": [quiet.id]},
        {"from": "online", "to": "offline", "reason": "timeout", "users": [gone.id]},
    ]
    assert chain.intact

    assert status(quiet.id, at).state == "away" and status(quiet.id, at).since == at
    kept_now = status(kept.id, at)
    assert kept_now.override_state is None and kept_now.override_expires_at is None
    assert kept_now.state == "online" and kept_now.since == kept_since  # no change, no new since
    assert status(held.id, at).override_state == "offline"
    assert status(freed.id, at).override_state is None and status(freed.id, at).since == at
    assert status(busy.id, at).state == "online"

    assert run_pass(at) == []  # nothing is due twice


def test_cached_availability_stays_right_across_a_pass(now):
    """The pass drops no cached presence: what it changes, the cache does not hold."""
    from services.presence_cache import presence_cache

    quiet, held = make_user(now), make_user(now)
    beat(quiet.id, now)
    override(held.id, "online", now, expires_at=now + timedelta(minutes=3))

    def cached_available(user_id, at):
        with read_scope() as session:
            return presence.supervisor_is_available(
                session=session, user_id=user_id, now=at, rules=RULES
            )

    assert cached_available(quiet.id, now) and cached_available(held.id, now)
    at = now + timedelta(minutes=6)
    run_pass(at)
    assert presence_cache.peek(quiet.id) is not None and presence_cache.peek(held.id) is not None
    assert not cached_available(quiet.id, at)  # away now: the cache agrees without a reload
    assert not cached_available(held.id, at)  # the expired override counts as none
    assert status(quiet.id, at).state == "away" and status(held.id, at).state == "offline"
