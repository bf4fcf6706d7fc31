"""Several workers settling the same users at once record each change exactly once.

On SQLite the writer lock serialises them; on PostgreSQL (TEST_DATABASE_URL) it is the row
locks in services/presence.py that make this hold, as it must for several app processes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import select

from models import PresenceChange
from services import presence, presence_transitions
from services.db import read_scope, session_scope
from tests.databases import on_postgres
from tests.factories import PRESENCE_RULES as RULES
from tests.factories import make_user

pytestmark = pytest.mark.usefixtures("database")
WORKERS = 8


def all_at_once(work: Callable[[int], object]) -> None:
    start = threading.Barrier(WORKERS)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            work(index)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures


def changes() -> Counter[tuple[int, str, str]]:
    with read_scope() as session:
        rows = session.exec(select(PresenceChange)).all()
    return Counter((row.user_id, row.from_state, row.to_state) for row in rows)


def test_simultaneous_first_heartbeats_bring_a_user_online_once(now):
    user = make_user(now)
    tokens = []
    for _ in range(WORKERS):
        with session_scope() as session:
            token, _ = presence.open_tab(session=session, user_id=user.id, now=now)
        tokens.append(token)

    def heartbeat(index: int) -> None:
        with session_scope() as session:
            presence.write_activity(
                session=session, user_id=user.id, tab_token=tokens[index], now=now, rules=RULES
            )

    all_at_once(heartbeat)
    assert changes() == Counter({(user.id, "offline", "online"): 1})


def test_simultaneous_transition_passes_move_each_user_once(now):
    users = [make_user(now) for _ in range(6)]
    for user in users:
        with session_scope() as session:
            presence.set_override(
                session=session,
                user_id=user.id,
                state="online",
                now=now,
                rules=RULES,
                expires_at=now + timedelta(minutes=1),
            )
    later = now + timedelta(minutes=2)

    def transition_pass(_index: int) -> None:
        with session_scope() as session:
            presence_transitions.run_presence_pass(session=session, now=later, rules=RULES)

    all_at_once(transition_pass)
    moved = changes()
    assert all(moved[(user.id, "online", "offline")] == 1 for user in users)


@pytest.mark.skipif(not on_postgres(), reason="SQLite's writer lock serialises flush and close")
def test_a_close_that_wins_the_race_with_a_flush_leaves_nobody_available(now, monkeypatch):
    """The flush has taken a kept beat; the tab's close commits before the flush writes it.
    The flush must not stamp the user's activity through the closed tab (they would count as
    available with no tab at all)."""
    import threading

    from services import presence_memory

    user = make_user(now)
    with session_scope() as session:
        token, _ = presence.open_tab(session=session, user_id=user.id, now=now)
    second = timedelta(seconds=1)
    presence.flush_activity(now=now)  # the flusher runs, as the app's scheduler runs it
    presence.record_activity(user_id=user.id, tab_token=token, now=now, rules=RULES)
    presence.record_activity(user_id=user.id, tab_token=token, now=now + 10 * second, rules=RULES)
    entered, release = threading.Event(), threading.Event()
    write_beats = presence_memory._write_beats

    def held_back(session, pending):  # noqa: ANN001, ANN202
        entered.set()
        release.wait(10)
        return write_beats(session, pending)

    monkeypatch.setattr(presence_memory, "_write_beats", held_back)
    flushing = threading.Thread(target=presence.flush_activity, kwargs={"now": now + 11 * second})
    flushing.start()
    assert entered.wait(10)
    with session_scope() as session:  # the close (grace 0 in these rules) settles at once
        presence.close_tab(session=session, tab_token=token, now=now + 11 * second, rules=RULES)
    release.set()
    flushing.join(timeout=30)
    with read_scope() as session:
        assert not presence.supervisor_is_available(
            session=session, user_id=user.id, now=now + 12 * second, rules=RULES
        )
