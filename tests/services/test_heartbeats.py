from datetime import timedelta

import pytest
from sqlmodel import select

from models import PresenceSession
from services import presence
from services.db import read_scope, session_scope
from services.heartbeats import HeartbeatBuffer
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import make_user

pytestmark = pytest.mark.usefixtures("database")


def online_tab(user_id, now):
    with session_scope() as session:
        token, tab = presence.start_presence_session(session=session, user_id=user_id, now=now)
        presence.record_heartbeat(
            session=session, user_id=user_id, session_token=token, now=now, rules=RULES
        )
    with read_scope() as session:
        presence.supervisor_is_available(session=session, user_id=user_id, now=now, rules=RULES)
    return token, tab.id


def buffered_tab(buffer, now):
    """A user whose tab is online and known to `buffer`, so its next beats stay in memory."""
    user = make_user(now)
    token, tab_id = online_tab(user.id, now)
    buffer.remember_tab(token, user.id, tab_id)
    return user, token, tab_id


def test_known_online_tab_takes_the_fast_path_and_is_flushed(now):
    user = make_user(now)
    token, tab_id = online_tab(user.id, now)
    buffer = HeartbeatBuffer(flush_every_s=float("inf"))  # flushed by hand only
    buffer.remember_tab(token, user.id, tab_id)
    answer = buffer.try_record(user.id, token, now + timedelta(seconds=30), RULES)
    assert answer is not None and answer.state == "online"
    assert buffer.flush() == 1
    with read_scope() as session:
        tab = session.get(PresenceSession, tab_id)
        assert tab.last_heartbeat_at == now + timedelta(seconds=30)
        assert presence.get_presence(
            session=session, user_id=user.id, now=now, rules=RULES
        ).last_heartbeat_at == now + timedelta(seconds=30)


def test_anything_unusual_takes_the_full_path(now):
    user, other = make_user(now), make_user(now)
    token, tab_id = online_tab(user.id, now)
    buffer = HeartbeatBuffer(flush_every_s=float("inf"))  # flushed by hand only
    assert buffer.try_record(user.id, token, now, RULES) is None  # tab not known yet
    buffer.remember_tab(token, user.id, tab_id)
    assert buffer.try_record(other.id, token, now, RULES) is None  # someone else's tab
    assert (
        buffer.try_record(user.id, token, now + timedelta(minutes=2), RULES) is None
    )  # stored beat too old
    with session_scope() as session:
        presence.set_override(session=session, user_id=user.id, state="away", now=now, rules=RULES)
    with read_scope() as session:
        presence.supervisor_is_available(session=session, user_id=user.id, now=now, rules=RULES)
    assert buffer.try_record(user.id, token, now, RULES) is None  # override in force


def test_flush_never_revives_an_ended_tab(now):
    user = make_user(now)
    token, tab_id = online_tab(user.id, now)
    buffer = HeartbeatBuffer(flush_every_s=float("inf"))  # flushed by hand only
    buffer.remember_tab(token, user.id, tab_id)
    assert buffer.try_record(user.id, token, now + timedelta(seconds=5), RULES) is not None
    with session_scope() as session:
        presence.end_presence_session(
            session=session, session_token=token, now=now, rules=RULES, caller_id=user.id
        )
    buffer.flush()
    with read_scope() as session:
        tab = session.exec(select(PresenceSession).where(PresenceSession.id == tab_id)).one()
    assert tab.ended_at is not None and tab.last_heartbeat_at == now


def test_a_flush_stamps_its_earliest_beat_and_never_moves_a_heartbeat_back(now):
    buffer = HeartbeatBuffer(flush_every_s=float("inf"))  # flushed by hand only
    first, first_token, first_tab = buffered_tab(buffer, now)
    second, second_token, second_tab = buffered_tab(buffer, now)
    assert buffer.try_record(first.id, first_token, now + timedelta(seconds=10), RULES)
    assert buffer.try_record(second.id, second_token, now + timedelta(seconds=10.6), RULES)
    # The second user's next beat went through the database meanwhile, later than the flush.
    with session_scope() as session:
        presence.record_heartbeat(
            session=session,
            user_id=second.id,
            session_token=second_token,
            now=now + timedelta(seconds=12),
            rules=RULES,
        )

    assert buffer.flush() == 2

    def stored(user_id, tab_id):
        with read_scope() as session:
            tab = session.get(PresenceSession, tab_id).last_heartbeat_at
            state = presence.get_presence(session=session, user_id=user_id, now=now, rules=RULES)
            return tab, state.last_heartbeat_at

    assert stored(first.id, first_tab) == (now + timedelta(seconds=10),) * 2
    assert stored(second.id, second_tab) == (now + timedelta(seconds=12),) * 2


def test_beats_seconds_apart_in_one_flush_keep_their_own_second(now):
    """After a failed flush a beat kept for retry can be much older than the rest: it must
    not drag the newer beats back with it."""
    buffer = HeartbeatBuffer(flush_every_s=float("inf"))  # flushed by hand only
    kept, kept_token, kept_tab = buffered_tab(buffer, now)
    fresh, fresh_token, fresh_tab = buffered_tab(buffer, now)
    assert buffer.try_record(kept.id, kept_token, now + timedelta(seconds=10), RULES)
    assert buffer.try_record(fresh.id, fresh_token, now + timedelta(seconds=50.5), RULES)

    assert buffer.flush() == 2

    with read_scope() as session:
        assert session.get(PresenceSession, kept_tab).last_heartbeat_at == now + timedelta(
            seconds=10
        )
        assert session.get(PresenceSession, fresh_tab).last_heartbeat_at == now + timedelta(
            seconds=50.5
        )
