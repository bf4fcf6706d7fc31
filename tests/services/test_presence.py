from dataclasses import replace
from datetime import timedelta

import pytest

from services import presence, presence_transitions
from services.db import read_scope, session_scope
from services.errors import InvalidInput, NotFound
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import make_user

pytestmark = pytest.mark.usefixtures("database")


def open_tab(user_id, now):
    with session_scope() as session:
        token, _ = presence.start_presence_session(session=session, user_id=user_id, now=now)
    return token


def beat(user_id, token, now):
    with session_scope() as session:
        return presence.record_heartbeat(
            session=session, user_id=user_id, session_token=token, now=now, rules=RULES
        )


def state_at(user_id, now):
    with read_scope() as session:
        return presence.get_presence(session=session, user_id=user_id, now=now, rules=RULES).state


def transitions(now):
    with session_scope() as session:
        return presence_transitions.apply_presence_transitions(
            session=session, now=now, rules=RULES
        )


def test_no_session_means_offline(now):
    user = make_user(now)
    assert state_at(user.id, now) == "offline"


def test_heartbeat_makes_online_then_away_then_offline_on_time(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    update = beat(user.id, token, now)
    assert update.presence.state == "online" and update.became_available
    assert state_at(user.id, now + timedelta(minutes=4, seconds=59)) == "online"
    assert state_at(user.id, now + timedelta(minutes=5)) == "away"
    assert state_at(user.id, now + timedelta(minutes=15)) == "offline"


def test_transition_pass_records_each_change_with_reason(now):
    user = make_user(now)
    beat(user.id, open_tab(user.id, now), now)
    transitions(now + timedelta(minutes=6))
    transitions(now + timedelta(minutes=16))
    with read_scope() as session:
        changes = presence.list_presence_changes(session=session, user_id=user.id)
    assert [(c.from_state, c.to_state, c.reason) for c in reversed(changes)] == [
        ("offline", "online", "heartbeat"),
        ("online", "away", "timeout"),
        ("away", "offline", "timeout"),
    ]


def test_most_present_session_wins(now):
    user = make_user(now)
    old_tab, new_tab = open_tab(user.id, now), open_tab(user.id, now)
    beat(user.id, old_tab, now)
    beat(user.id, new_tab, now + timedelta(minutes=10))
    assert state_at(user.id, now + timedelta(minutes=12)) == "online"


def test_closing_the_last_tab_goes_offline_but_another_live_tab_keeps_you(now):
    user = make_user(now)
    first, second = open_tab(user.id, now), open_tab(user.id, now)
    beat(user.id, first, now)
    beat(user.id, second, now)
    with session_scope() as session:
        presence.end_presence_session(
            session=session, session_token=first, now=now, rules=RULES, caller_id=user.id
        )
    assert state_at(user.id, now) == "online"
    with session_scope() as session:
        update = presence.end_presence_session(
            session=session, session_token=second, now=now, rules=RULES, caller_id=user.id
        )
    assert update.presence.state == "offline"


def test_override_wins_until_it_expires(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now)
    with session_scope() as session:
        presence.set_override(
            session=session,
            user_id=user.id,
            state="offline",
            expires_at=now + timedelta(minutes=30),
            now=now,
            rules=RULES,
        )
    beat(user.id, token, now + timedelta(minutes=1))
    assert state_at(user.id, now + timedelta(minutes=2)) == "offline"
    beat(user.id, token, now + timedelta(minutes=30))
    assert state_at(user.id, now + timedelta(minutes=31)) == "online"
    with read_scope() as session:
        reasons = [
            c.reason for c in presence.list_presence_changes(session=session, user_id=user.id)
        ]
    assert "override" in reasons and "expiry" in reasons


def test_expired_override_is_cleared_by_the_scheduler_pass(now):
    user = make_user(now)
    with session_scope() as session:
        presence.set_override(
            session=session,
            user_id=user.id,
            state="online",
            expires_at=now + timedelta(minutes=10),
            now=now,
            rules=RULES,
        )
    assert state_at(user.id, now) == "online"
    transitions(now + timedelta(minutes=11))
    with read_scope() as session:
        status = presence.get_presence(
            session=session, user_id=user.id, now=now + timedelta(minutes=11), rules=RULES
        )
    assert status.state == "offline" and status.override_state is None


def test_bad_override_and_foreign_session_token_are_refused(now):
    user, other = make_user(now), make_user(now)
    with session_scope() as session, pytest.raises(InvalidInput) as error:
        presence.set_override(session=session, user_id=user.id, state="busy", now=now, rules=RULES)
    assert error.value.field == "state"
    with session_scope() as session, pytest.raises(InvalidInput):
        presence.set_override(
            session=session,
            user_id=user.id,
            state="away",
            expires_at=now - timedelta(seconds=1),
            now=now,
            rules=RULES,
        )
    token = open_tab(other.id, now)
    with pytest.raises(NotFound):
        beat(user.id, token, now)


def test_cached_availability_follows_each_committed_change(now):
    from services.presence_cache import presence_cache

    user = make_user(now)
    with read_scope() as session:
        assert not presence.supervisor_is_available(
            session=session, user_id=user.id, now=now, rules=RULES
        )
    assert presence_cache.peek(user.id) is not None  # warmed
    beat(user.id, open_tab(user.id, now), now)
    assert presence_cache.peek(user.id) is None  # dropped on commit
    with read_scope() as session:
        assert presence.supervisor_is_available(
            session=session, user_id=user.id, now=now, rules=RULES
        )
    with session_scope() as session:
        presence.set_override(
            session=session, user_id=user.id, state="offline", now=now, rules=RULES
        )
    with read_scope() as session:
        assert not presence.supervisor_is_available(
            session=session, user_id=user.id, now=now, rules=RULES
        )


def test_rolled_back_change_keeps_the_cache(now):
    from services.presence_cache import presence_cache

    user = make_user(now)
    with read_scope() as session:
        presence.supervisor_is_available(session=session, user_id=user.id, now=now, rules=RULES)
    with pytest.raises(RuntimeError), session_scope() as session:
        presence.set_override(
            session=session, user_id=user.id, state="online", now=now, rules=RULES
        )
        raise RuntimeError("abort")
    assert presence_cache.peek(user.id) is not None
    with read_scope() as session:
        assert not presence.supervisor_is_available(
            session=session, user_id=user.id, now=now, rules=RULES
        )


def test_closed_and_silent_tabs_end(now):
    user = make_user(now)
    closing, silent = open_tab(user.id, now), open_tab(user.id, now)
    beat(user.id, closing, now)
    with session_scope() as session:
        assert (
            presence.close_tab(
                session=session, session_token=closing, now=now, rules=RULES
            ).presence.state
            == "offline"
        )
    with session_scope() as session:
        assert (
            presence.end_stale_tabs(session=session, now=now + timedelta(minutes=14), rules=RULES)
            == 0
        )
    with session_scope() as session:
        assert (
            presence.end_stale_tabs(session=session, now=now + timedelta(minutes=16), rules=RULES)
            == 1
        )
    with read_scope() as session:
        assert all(
            s.ended_at for s in presence.list_presence_sessions(session=session, user_id=user.id)
        )
    del silent


GRACEFUL = replace(RULES, close_grace=timedelta(seconds=10))


def close(token, now, rules=GRACEFUL):
    with session_scope() as session:
        presence.close_tab(session=session, session_token=token, now=now, rules=rules)


def settle_closed(now, rules=GRACEFUL):
    with session_scope() as session:
        return presence.settle_closed_tabs(session=session, now=now, rules=rules)


def recorded_changes(user_id):
    with read_scope() as session:
        return [
            (c.from_state, c.to_state, c.reason)
            for c in presence.list_presence_changes(session=session, user_id=user_id)
        ]


def test_a_reloaded_page_keeps_its_user_online_without_recording_anything(now):
    user = make_user(now)
    old_token = open_tab(user.id, now)  # the tab that is reloaded
    beat(user.id, old_token, now + timedelta(seconds=1))
    close(old_token, now + timedelta(seconds=2))
    beat(user.id, open_tab(user.id, now), now + timedelta(seconds=3))  # the page again

    assert settle_closed(now + timedelta(seconds=30)) == 0
    assert state_at(user.id, now + timedelta(seconds=30)) == "online"
    assert recorded_changes(user.id) == [("offline", "online", "heartbeat")]


def test_closing_the_last_tab_counts_once_the_grace_has_passed(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now)
    close(token, now + timedelta(seconds=1))

    assert settle_closed(now + timedelta(seconds=5)) == 0
    assert state_at(user.id, now + timedelta(seconds=5)) == "online"
    assert settle_closed(now + timedelta(seconds=12)) == 1
    assert state_at(user.id, now + timedelta(seconds=12)) == "offline"
    assert settle_closed(now + timedelta(seconds=30)) == 0  # settled once
    assert recorded_changes(user.id)[0] == ("online", "offline", "session_ended")


def test_closing_one_of_two_tabs_falls_back_to_the_other_tabs_heartbeat(now):
    user = make_user(now)
    idle, active = open_tab(user.id, now), open_tab(user.id, now)
    beat(user.id, idle, now)
    beat(user.id, active, now + timedelta(minutes=6))
    close(active, now + timedelta(minutes=6, seconds=1))

    settle_closed(now + timedelta(minutes=6, seconds=20))
    # The remaining tab was last active six minutes ago: away, not online and not offline.
    assert state_at(user.id, now + timedelta(minutes=6, seconds=20)) == "away"
