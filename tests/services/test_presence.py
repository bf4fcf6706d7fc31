"""Presence from tabs' activity and overrides, and a history that tells the truth: each move
at the moment it happened, with its real reason, however late the scheduler's pass runs."""

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, update
from sqlmodel import select

from models import AuditEvent, PresenceChange, PresenceSession, PresenceStatus
from services import presence, presence_memory, presence_transitions
from services.db import get_engine, read_scope, session_scope
from services.errors import InvalidInput, NotFound
from services.security import token_hash
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import make_user

pytestmark = pytest.mark.usefixtures("database")
MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def flusher_running(database, now, monkeypatch):
    """As in the app, whose scheduler flushes kept beats every second: beats are kept only
    while a flush has run lately (here: lately enough for the whole test, however slow)."""
    monkeypatch.setattr(presence_memory, "FLUSHER_GONE_S", 3600.0)
    presence.flush_activity(now=now)


def open_tab(user_id, now):
    with session_scope() as session:
        token, _ = presence.open_tab(session=session, user_id=user_id, now=now)
    return token


def beat(user_id, token, now, rules=RULES):
    """As the dashboard and the HTTP route do: through the one entry point."""
    return presence.record_activity(user_id=user_id, tab_token=token, now=now, rules=rules)


def flush(now):
    return presence.flush_activity(now=now)


def stored_activity(user_id):
    with read_scope() as session:
        return session.get(PresenceStatus, user_id).last_heartbeat_at


def read(user_id, now, rules=RULES):
    with read_scope() as session:
        return presence.get_presence(session=session, user_id=user_id, now=now, rules=rules)


def state_at(user_id, now):
    return read(user_id, now).state


def run_pass(now, rules=RULES):
    with session_scope() as session:
        return presence_transitions.run_presence_pass(session=session, now=now, rules=rules)


def override(user_id, state, now, expires_at=None, rules=RULES):
    with session_scope() as session:
        return presence.set_override(
            session=session,
            user_id=user_id,
            state=state,
            expires_at=expires_at,
            now=now,
            rules=rules,
        )


def close(token, now, rules=RULES):
    with session_scope() as session:
        return presence.close_tab(session=session, tab_token=token, now=now, rules=rules)


def history(user_id):
    """(from, to, reason, at), oldest first."""
    with read_scope() as session:
        changes = presence.list_presence_changes(session=session, user_id=user_id)
    return [(c.from_state, c.to_state, c.reason, c.at) for c in reversed(changes)]


def test_no_tab_means_offline(now):
    user = make_user(now)
    assert state_at(user.id, now) == "offline"


def test_activity_makes_online_then_away_then_offline_on_time(now):
    user = make_user(now)
    update = beat(user.id, open_tab(user.id, now), now)
    assert update.presence.state == "online" and update.became_available
    assert state_at(user.id, now + 5 * MIN - SEC) == "online"
    assert state_at(user.id, now + 5 * MIN) == "away"
    assert state_at(user.id, now + 15 * MIN) == "offline"


def test_a_late_pass_records_each_timeout_at_the_moment_it_happened(now):
    user = make_user(now)
    beat(user.id, open_tab(user.id, now), now)
    run_pass(now + 40 * MIN)  # the pass was late: both timeouts are due at once
    assert history(user.id) == [
        ("offline", "online", "heartbeat", now),
        ("online", "away", "timeout", now + 5 * MIN),
        ("away", "offline", "timeout", now + 15 * MIN),
    ]
    assert read(user.id, now + 40 * MIN).since == now + 15 * MIN
    assert run_pass(now + 41 * MIN) == [] and len(history(user.id)) == 3  # recorded once


def test_reads_between_passes_give_the_true_since(now):
    user = make_user(now)
    beat(user.id, open_tab(user.id, now), now)
    seen = read(user.id, now + 7 * MIN)  # no pass has run
    assert (seen.state, seen.since) == ("away", now + 5 * MIN)


def test_coming_back_before_the_pass_noticed_still_records_the_away_spell(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now)
    update = beat(user.id, token, now + 8 * MIN)
    assert update.became_available
    assert history(user.id)[1:] == [
        ("online", "away", "timeout", now + 5 * MIN),
        ("away", "online", "heartbeat", now + 8 * MIN),
    ]


def test_a_beat_that_changes_nothing_is_kept_in_memory_and_written_by_the_next_flush(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now)
    with read_scope() as session:
        audits = session.exec(select(func.count()).select_from(AuditEvent)).one()
    update = beat(user.id, token, now + MIN)
    assert not update.changed and update.presence.since == now
    assert update.presence.last_heartbeat_at == now + MIN
    assert stored_activity(user.id) == now  # not written yet
    assert flush(now + MIN + SEC) == 1
    assert stored_activity(user.id) == now + MIN
    with read_scope() as session:
        tabs = presence.list_presence_sessions(session=session, user_id=user.id)
        assert session.exec(select(func.count()).select_from(AuditEvent)).one() == audits
    assert tabs[0].last_heartbeat_at == now + MIN
    assert len(history(user.id)) == 1
    # ...and so the timeouts count from the newest beat.
    assert state_at(user.id, now + 5 * MIN + SEC) == "online"


def test_a_beat_that_may_change_something_goes_to_the_database_at_once(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now)
    override(user.id, "away", now + SEC)  # forgets what memory knew of this user
    update = beat(user.id, token, now + 2 * SEC)
    assert update.presence.override_state == "away" and update.presence.state == "away"
    assert stored_activity(user.id) == now + 2 * SEC


def test_memory_trusts_the_database_only_for_half_the_away_threshold(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now)
    beat(user.id, token, now + 2 * MIN)  # kept
    assert stored_activity(user.id) == now
    beat(user.id, token, now + 2 * MIN + 30 * SEC)  # 2.5 min since confirmed: the database
    assert stored_activity(user.id) == now + 2 * MIN + 30 * SEC


def test_a_flush_never_revives_a_tab_closed_meanwhile(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now)
    beat(user.id, token, now + MIN)  # kept
    with session_scope() as session:  # closed by another process: this one's memory is stale
        session.execute(
            update(PresenceSession)
            .where(PresenceSession.user_id == user.id)
            .values(ended_at=now + MIN)
        )
    flush(now + MIN + SEC)
    with read_scope() as session:
        tab = presence.list_presence_sessions(session=session, user_id=user.id)[0]
    assert tab.last_heartbeat_at == now  # the kept beat was not written on the ended tab
    assert stored_activity(user.id) == now  # nor counted for its user
    with pytest.raises(presence.TabEnded):
        beat(user.id, token, now + 2 * MIN)  # forgotten: the database refuses it


def test_a_close_racing_a_beat_is_never_undone_in_memory(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now)
    memory = presence_memory.memory_for(get_engine().pool)
    generation = memory.generation(user.id)
    close(token, now + SEC)  # the close lands between a beat's commit and its remembering
    online = presence_memory.OnlineByActivity(now, now)
    memory.remember_beat(token_hash(token), user.id, 1, online, generation)
    with pytest.raises(presence.TabEnded):
        beat(user.id, token, now + 2 * SEC)


def test_an_idle_open_tab_keeps_appear_online_and_is_not_called_closed(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now)
    override(user.id, "online", now, expires_at=now + 4 * 60 * MIN)
    for minutes in (6, 16, 30):
        run_pass(now + minutes * MIN, GRACEFUL)
    assert presence_available(user.id, now + 30 * MIN)
    assert [reason for _, _, reason, _ in history(user.id)] == ["heartbeat"]
    with read_scope() as session:
        assert session.get(PresenceStatus, user.id).last_heartbeat_at == now


def test_without_a_flusher_every_beat_is_written_at_once(now, monkeypatch):
    user = make_user(now)
    token = open_tab(user.id, now)
    monkeypatch.setattr(presence_memory, "FLUSHER_GONE_S", -1.0)  # no flush lately
    beat(user.id, token, now)
    beat(user.id, token, now + MIN)
    assert stored_activity(user.id) == now + MIN


def test_a_memory_that_never_flushed_keeps_no_beat(now):
    memory = presence_memory.PresenceMemory()
    online = presence_memory.OnlineByActivity(since=now, confirmed_at=now)
    memory.remember_beat("tab-hash", 1, 1, online, memory.generation(1))
    assert memory.take_beat(1, "tab-hash", now, away_after_s=300) is None
    with session_scope() as session:
        memory.flush_beats(session, now)  # a flusher runs: now it keeps them
    assert memory.take_beat(1, "tab-hash", now, away_after_s=300) == online
    with session_scope() as session:
        memory.flush_beats(session, now, last=True)  # the app stops: no more
    assert memory.take_beat(1, "tab-hash", now, away_after_s=300) is None


def test_an_override_ends_within_a_year(now):
    user = make_user(now)
    with pytest.raises(InvalidInput) as error:
        override(user.id, "away", now, expires_at=now + timedelta(days=367))
    assert error.value.field == "expires_at"


def test_the_most_recent_tab_counts(now):
    user = make_user(now)
    old_tab, new_tab = open_tab(user.id, now), open_tab(user.id, now)
    beat(user.id, old_tab, now)
    beat(user.id, new_tab, now + 10 * MIN)
    assert state_at(user.id, now + 12 * MIN) == "online"


def test_closing_the_last_tab_goes_offline_at_that_moment_with_its_reason(now):
    user = make_user(now)
    first, second = open_tab(user.id, now), open_tab(user.id, now)
    beat(user.id, first, now)
    beat(user.id, second, now)
    assert close(first, now + MIN).presence.state == "online"  # the other tab keeps you
    assert close(second, now + 2 * MIN).presence.state == "offline"
    assert history(user.id)[-1] == ("online", "offline", "tab_closed", now + 2 * MIN)


def test_a_user_who_goes_silent_times_out_and_their_tabs_end(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now)
    run_pass(now + 14 * MIN)
    run_pass(now + 16 * MIN)
    assert [reason for _, _, reason, _ in history(user.id)] == ["heartbeat", "timeout", "timeout"]
    with read_scope() as session:
        tabs = presence.list_presence_sessions(session=session, user_id=user.id)
    assert all(tab.ended_at == now + 16 * MIN for tab in tabs)
    with pytest.raises(presence.TabEnded):
        beat(user.id, token, now + 17 * MIN)  # the dashboard then opens a new tab


def test_an_override_wins_until_it_ends_and_the_end_is_recorded_at_its_time(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now)
    override(user.id, "offline", now, expires_at=now + 30 * MIN)
    beat(user.id, token, now + MIN)
    assert state_at(user.id, now + 2 * MIN) == "offline"
    beat(user.id, token, now + 29 * MIN)
    run_pass(now + 33 * MIN)
    assert history(user.id)[1:] == [
        ("online", "offline", "override", now),
        ("offline", "online", "override_expired", now + 30 * MIN),
    ]
    assert read(user.id, now + 33 * MIN).override_state is None


def test_clearing_an_override_is_recorded(now):
    user = make_user(now)
    override(user.id, "away", now)
    override_cleared = presence.clear_override
    with session_scope() as session:
        override_cleared(session=session, user_id=user.id, now=now + MIN, rules=RULES)
    assert history(user.id) == [
        ("offline", "away", "override", now),
        ("away", "offline", "override_cleared", now + MIN),
    ]


def test_appearing_online_needs_an_end_within_the_limit(now):
    user = make_user(now)
    with pytest.raises(InvalidInput) as no_end:
        override(user.id, "online", now)
    assert no_end.value.field == "expires_at"
    with pytest.raises(InvalidInput) as too_long:
        override(user.id, "online", now, expires_at=now + RULES.online_override_max + SEC)
    assert too_long.value.field == "expires_at"
    assert override(user.id, "away", now).presence.state == "away"  # others need no end


def test_appearing_online_ends_on_time_and_when_the_last_tab_closes(now):
    timed, leaving = make_user(now), make_user(now)
    override(timed.id, "online", now, expires_at=now + 60 * MIN)
    assert presence_available(timed.id, now + 59 * MIN)
    run_pass(now + 61 * MIN)
    assert not presence_available(timed.id, now + 61 * MIN)
    assert history(timed.id)[-1] == ("online", "offline", "override_expired", now + 60 * MIN)

    token = open_tab(leaving.id, now)
    beat(leaving.id, token, now)
    override(leaving.id, "online", now, expires_at=now + 60 * MIN)
    close(token, now + 2 * MIN)
    assert not presence_available(leaving.id, now + 2 * MIN)
    assert read(leaving.id, now + 2 * MIN).override_state is None
    assert history(leaving.id)[-1] == ("online", "offline", "tab_closed", now + 2 * MIN)


def presence_available(user_id, now):
    with read_scope() as session:
        return presence.supervisor_is_available(
            session=session, user_id=user_id, now=now, rules=RULES
        )


def test_bad_override_and_a_foreign_tab_are_refused(now):
    user, other = make_user(now), make_user(now)
    with pytest.raises(InvalidInput) as error:
        override(user.id, "busy", now)
    assert error.value.field == "state"
    with pytest.raises(InvalidInput):
        override(user.id, "away", now, expires_at=now - SEC)
    with pytest.raises(NotFound):
        beat(user.id, open_tab(other.id, now), now)
    assert history(user.id) == []


def test_the_pass_runs_as_often_as_the_thresholds_need():
    quick = replace(RULES, away_after=4 * SEC, offline_after=8 * SEC)
    assert quick.pass_interval_s == 1.0
    assert RULES.pass_interval_s == 15.0
    assert replace(RULES, away_after=40 * SEC, offline_after=15 * MIN).pass_interval_s == 10.0


def test_a_committed_change_reaches_the_cached_availability_at_once(now):
    user = make_user(now)
    assert not presence_available(user.id, now)  # cached: offline
    beat(user.id, open_tab(user.id, now), now)
    assert presence_available(user.id, now)
    override(user.id, "offline", now)
    assert not presence_available(user.id, now)


def test_a_rolled_back_change_does_not_reach_the_cache(now):
    user = make_user(now)
    assert not presence_available(user.id, now)
    with pytest.raises(RuntimeError), session_scope() as session:
        presence.set_override(
            session=session,
            user_id=user.id,
            state="online",
            expires_at=now + MIN,
            now=now,
            rules=RULES,
        )
        raise RuntimeError("abort")
    assert not presence_available(user.id, now)


def test_another_process_change_is_seen_once_the_cache_entry_is_older_than_its_ttl(
    now, monkeypatch
):
    user = make_user(now)
    beat(user.id, open_tab(user.id, now), now)
    assert presence_available(user.id, now)  # cached
    with session_scope() as session:  # as another process would: no hook in this one
        session.execute(
            update(PresenceStatus)
            .where(PresenceStatus.user_id == user.id)
            .values(override_state="offline")
        )
    assert presence_available(user.id, now)  # still the cached answer
    monotonic = presence_memory.monotonic
    monkeypatch.setattr(presence_memory, "monotonic", lambda: monotonic() + presence_memory.TTL_S)
    assert not presence_available(user.id, now)


GRACEFUL = replace(RULES, close_grace=timedelta(seconds=10))


def test_a_reloaded_page_keeps_its_user_online_without_recording_anything(now):
    user = make_user(now)
    old_token = open_tab(user.id, now)  # the tab that is reloaded
    beat(user.id, old_token, now + SEC, GRACEFUL)
    close(old_token, now + 2 * SEC, GRACEFUL)
    beat(user.id, open_tab(user.id, now), now + 3 * SEC, GRACEFUL)  # the page again

    assert run_pass(now + 30 * SEC, GRACEFUL) == []
    assert state_at(user.id, now + 30 * SEC) == "online"
    assert [reason for _, _, reason, _ in history(user.id)] == ["heartbeat"]


def test_closing_the_last_tab_counts_after_the_grace_at_the_moment_it_closed(now):
    user = make_user(now)
    token = open_tab(user.id, now)
    beat(user.id, token, now, GRACEFUL)
    close(token, now + SEC, GRACEFUL)

    run_pass(now + 5 * SEC, GRACEFUL)
    assert state_at(user.id, now + 5 * SEC) == "online"
    run_pass(now + 12 * SEC, GRACEFUL)
    assert state_at(user.id, now + 12 * SEC) == "offline"
    run_pass(now + 30 * SEC, GRACEFUL)  # settled once
    assert history(user.id)[1:] == [("online", "offline", "tab_closed", now + SEC)]


def test_closing_one_of_two_tabs_falls_back_to_the_other_tabs_activity(now):
    user = make_user(now)
    idle, active = open_tab(user.id, now), open_tab(user.id, now)
    beat(user.id, idle, now, GRACEFUL)
    beat(user.id, active, now + 6 * MIN, GRACEFUL)
    close(active, now + 6 * MIN + SEC, GRACEFUL)

    run_pass(now + 6 * MIN + 20 * SEC, GRACEFUL)
    # The remaining tab was last active six minutes ago: away since it closed.
    assert history(user.id)[-1] == ("online", "away", "tab_closed", now + 6 * MIN + SEC)


def test_every_move_is_audited_in_the_right_name(now):
    user = make_user(now)
    beat(user.id, open_tab(user.id, now), now)
    run_pass(now + 6 * MIN)
    with read_scope() as session:
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "presence.changed")
            .order_by(AuditEvent.id)
        ).all()
        rows = session.exec(select(PresenceChange)).all()
    assert [(e.actor_type, e.object_type) for e in events] == [
        ("user", "user"),
        ("system", "team"),
    ]
    assert len(rows) == 2
