"""The scheduler's presence pass: every kind of due user in one pass, each move at its moment."""

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
        token, _ = presence.open_tab(session=session, user_id=user_id, now=at)
        presence.write_activity(
            session=session, user_id=user_id, tab_token=token, now=at, rules=RULES
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
        return presence_transitions.run_presence_pass(session=session, now=at, rules=RULES)


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
    minute = timedelta(minutes=1)
    expected = {
        (quiet.id, "online", "away", "timeout", now + 5 * minute),
        (gone.id, "online", "away", "timeout", now - 5 * minute),
        (gone.id, "away", "offline", "timeout", now + 5 * minute),
        (freed.id, "offline", "online", "override_expired", now + 5 * minute),
    }
    assert {(c.user_id, c.from_state, c.to_state, c.reason, c.at) for c in made} == expected
    assert audited.after["changes"] == [
        {"from": "away", "to": "offline", "reason": "timeout", "users": [gone.id]},
        {"from": "offline", "to": "online", "reason": "override_expired", "users": [freed.id]},
        {"from": "online", "to": "away", "reason": "timeout", "users": sorted([gone.id, quiet.id])},
    ]
    assert chain.intact

    assert status(quiet.id, at).state == "away" and status(quiet.id, at).since == now + 5 * minute
    kept_now = status(kept.id, at)
    assert kept_now.override_state is None and kept_now.override_expires_at is None
    assert kept_now.state == "online" and kept_now.since == kept_since  # no change, no new since
    assert status(held.id, at).override_state == "offline"
    assert status(freed.id, at).override_state is None
    assert status(freed.id, at).since == now + 5 * minute
    assert status(busy.id, at).state == "online"

    assert run_pass(at) == []  # nothing is due twice
