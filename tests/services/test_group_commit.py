"""Group commit: one transaction for many writes, each unit all-or-nothing, answered after
the commit; heartbeats that change state go through it."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from models import AuditEvent, PresenceChange, User
from services import presence
from services.db import read_scope, session_scope
from services.errors import NotFound
from services.group_commit import GroupCommitter, _Pending
from services.heartbeats import submit_full_heartbeat
from services.presence import PresenceRules
from services.presence_cache import presence_cache
from tests.factories import make_user

pytestmark = pytest.mark.usefixtures("database")
RULES = PresenceRules(away_after=timedelta(minutes=5), offline_after=timedelta(minutes=15))


def rename(user_id: int, name: str):
    def unit(session: Session) -> str:
        user = session.get(User, user_id)
        user.display_name = name
        session.add(user)
        session.flush()
        return name

    return unit


def failing(session: Session) -> None:
    session.get(User, 1)
    raise NotFound("no such thing")


def display_name(user_id: int) -> str:
    with read_scope() as session:
        return session.get(User, user_id).display_name


def test_a_failing_unit_rolls_back_alone_and_the_others_are_committed(now):
    first, second = make_user(now), make_user(now)
    committer = GroupCommitter("test")
    seen_after_commit: list[str] = []
    committer.after_commit = lambda results: seen_after_commit.extend(
        display_name(user.id) for user in (first, second)
    )

    def breaks_after_writing(session: Session) -> None:
        rename(second.id, "half-done")(session)
        raise ValueError("changed my mind")

    batch = [_Pending(rename(first.id, "Ada")), _Pending(breaks_after_writing), _Pending(failing)]
    committer.run_batch(batch)

    assert batch[0].future.result() == "Ada"
    with pytest.raises(ValueError):
        batch[1].future.result()
    with pytest.raises(NotFound):
        batch[2].future.result()
    assert display_name(first.id) == "Ada"
    assert display_name(second.id) != "half-done"
    # The hook runs after the commit: it already sees the committed write.
    assert seen_after_commit[0] == "Ada"


def test_when_the_commit_fails_nobody_is_told_it_succeeded(now, monkeypatch):
    user = make_user(now)
    committer = GroupCommitter("test")

    def refuse_commit(self):  # noqa: ANN001
        raise RuntimeError("disk full")

    monkeypatch.setattr(Session, "commit", refuse_commit)
    batch = [_Pending(rename(user.id, "Grace"))]
    with pytest.raises(RuntimeError):
        committer.run_batch(batch)
    monkeypatch.undo()

    with pytest.raises(RuntimeError, match="disk full"):
        batch[0].future.result()
    assert display_name(user.id) != "Grace"


def test_units_submitted_together_share_transactions_and_all_complete(now):
    users = [make_user(now) for _ in range(6)]
    committer = GroupCommitter("test")
    futures = [committer.submit(rename(user.id, f"name-{user.id}")) for user in users]
    assert [future.result(timeout=30) for future in futures] == [f"name-{u.id}" for u in users]
    assert committer.batches <= len(users)
    assert all(display_name(user.id) == f"name-{user.id}" for user in users)


def test_a_burst_of_joining_tabs_brings_each_user_online_once_and_warms_the_cache(now):
    users = [make_user(now) for _ in range(8)]
    tabs = []
    for user in users:
        with session_scope() as session:
            token, _ = presence.start_presence_session(session=session, user_id=user.id, now=now)
        tabs.append((user.id, token))

    futures = [submit_full_heartbeat(uid, token, RULES, lambda: now) for uid, token in tabs]
    recorded = [future.result(timeout=30) for future in futures]

    assert all(item.update.presence.state == "online" for item in recorded)
    with read_scope() as session:
        rows = session.exec(select(PresenceChange)).all()
        audited = session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "presence.changed")
        ).one()
    assert Counter((r.user_id, r.from_state, r.to_state) for r in rows) == Counter(
        {(user.id, "offline", "online"): 1 for user in users}
    )
    assert audited == len(users)
    # Their next heartbeats can be answered from memory.
    assert all(presence_cache.peek(user.id).last_heartbeat_at == now for user in users)


def test_a_heartbeat_for_an_unknown_tab_fails_alone(now):
    user = make_user(now)
    with session_scope() as session:
        token, _ = presence.start_presence_session(session=session, user_id=user.id, now=now)
    good = submit_full_heartbeat(user.id, token, RULES, lambda: now)
    bad = submit_full_heartbeat(user.id, "svp_not-a-real-tab", RULES, lambda: now)
    assert good.result(timeout=30).update.presence.state == "online"
    with pytest.raises(NotFound):
        bad.result(timeout=30)
