"""Every setting is documented; the scheduler starts its jobs, and they run."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from models import LoginSession
from scheduler import runner
from services import users as user_service
from services.config import Settings
from services.db import read_scope, session_scope
from services.maintenance import purge_stale_sessions
from tests.factories import make_user

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme():
    text = README.read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in text]
    assert missing == []


@pytest.mark.usefixtures("database")
def test_tidy_job_removes_expired_sign_ins(now):
    user = make_user(now)
    with session_scope() as session:
        user_service.start_login_session(
            session=session, user=user, now=now, ttl=timedelta(hours=1)
        )
        user_service.start_login_session(
            session=session, user=user, now=now, ttl=timedelta(hours=5)
        )
    with session_scope() as session:
        assert purge_stale_sessions(session=session, now=now + timedelta(hours=2)) == 1
    with read_scope() as session:
        assert len(session.exec(select(LoginSession)).all()) == 1


@pytest.mark.usefixtures("database")
def test_scheduler_starts_every_job_and_they_fire():
    async def run_briefly() -> None:
        async with runner.run_scheduler() as scheduler:
            assert {job.id for job in scheduler.get_jobs()} == {
                job_id for job_id, _, _ in runner.JOBS
            }
            for _ in range(100):
                if len(runner.status.last_run) == len(runner.JOBS):
                    break
                await asyncio.sleep(0.05)
        assert not runner.status.running

    runner.status.last_run.clear()
    asyncio.run(run_briefly())
    assert set(runner.status.last_run) == {job_id for job_id, _, _ in runner.JOBS}
    assert runner.status.last_error == {}


def test_the_liveness_job_gives_agents_a_full_window_after_the_app_starts(database):
    from datetime import timedelta

    from scheduler import jobs
    from services import governance
    from services.clock import utcnow
    from services.db import session_scope
    from services.policy import governance_policy
    from tests.factories import make_agent

    long_ago = utcnow() - timedelta(hours=1)
    agent = make_agent(long_ago, level="AUTONOMOUS")
    with session_scope() as session:
        run = governance.route_action(
            session=session,
            agent=agent.agent,
            request=governance.ActionInput(action="export"),
            now=long_ago,
            policy=governance_policy(),
        )
    assert jobs.end_lost_runs(listening_since=utcnow() - timedelta(seconds=5)) == []
    assert jobs.end_lost_runs(listening_since=long_ago) == [run.execution_id]


def test_beats_kept_in_memory_are_written_when_the_app_stops(database):
    from services import presence
    from services.clock import utcnow
    from services.policy import presence_rules

    user, now, rules = make_user(utcnow()), utcnow(), presence_rules()
    with session_scope() as session:
        token, _ = presence.open_tab(session=session, user_id=user.id, now=now)
    presence.flush_activity(now=now)  # the flusher runs, as the app's scheduler runs it
    presence.record_activity(user_id=user.id, tab_token=token, now=now, rules=rules)
    presence.record_activity(user_id=user.id, tab_token=token, now=now, rules=rules)
    later = now + timedelta(seconds=30)
    presence.record_activity(user_id=user.id, tab_token=token, now=later, rules=rules)  # kept

    async def start_and_stop() -> None:
        async with runner.run_scheduler() as scheduler:
            scheduler.pause()  # no timed flush: only the one at shutdown

    asyncio.run(start_and_stop())
    with read_scope() as session:
        tab = presence.list_presence_sessions(session=session, user_id=user.id)[0]
    assert tab.last_heartbeat_at == later
    # A beat arriving after the last flush is written at once, not kept for no flush.
    last_one = later + timedelta(seconds=5)
    presence.record_activity(user_id=user.id, tab_token=token, now=last_one, rules=rules)
    with read_scope() as session:
        tab = presence.list_presence_sessions(session=session, user_id=user.id)[0]
    assert tab.last_heartbeat_at == last_one


def test_the_presence_pass_runs_as_often_as_the_thresholds_need(monkeypatch):
    from services.config import get_settings

    monkeypatch.setenv("PRESENCE_AWAY_AFTER_S", "4")
    monkeypatch.setenv("PRESENCE_OFFLINE_AFTER_S", "8")
    get_settings.cache_clear()
    try:
        intervals = {job_id: seconds for job_id, _, seconds in runner.job_intervals()}
    finally:
        get_settings.cache_clear()
    assert intervals["presence_transitions"] == 1.0 and intervals["presence_flush"] == 1.0
