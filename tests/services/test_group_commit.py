"""Group commit: one transaction for a burst of writes, answered after the commit; heartbeats
that reach the database go through it."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlmodel import Session, func, select

from models import AuditEvent, PresenceChange, User
from services import presence
from services.audit import verify_audit_chain
from services.db import read_scope, session_scope
from services.errors import InvalidInput, NotFound
from services.group_commit import GroupCommitter, _Pending
from services.heartbeats import heartbeat_buffer, submit_full_heartbeat
from services.presence_cache import presence_cache
from tests.factories import make_user

pytestmark = pytest.mark.usefixtures("database")


def rename_all(session: Session, items: list[tuple[int, str]]) -> list[object]:
    """Renames users; refuses empty names (writing nothing for them)."""
    answers: list[object] = []
    for user_id, name in items:
        if not name:
            answers.append(InvalidInput("a name is needed", field="name"))
            continue
        user = session.get(User, user_id)
        user.display_name = name
        session.add(user)
        answers.append(name)
    return answers


def display_name(user_id: int) -> str:
    with read_scope() as session:
        return session.get(User, user_id).display_name


def test_refused_items_get_their_own_error_and_the_rest_is_committed_before_answering(now):
    first, second = make_user(now), make_user(now)
    seen_by_hook: list[str] = []
    committer = GroupCommitter(
        "test",
        apply=rename_all,
        after_commit=lambda _results: seen_by_hook.append(display_name(first.id)),
    )
    batch = [_Pending((first.id, "Ada")), _Pending((second.id, ""))]
    committer.run_batch(batch)

    assert batch[0].future.result() == "Ada"
    with pytest.raises(InvalidInput):
        batch[1].future.result()
    assert display_name(first.id) == "Ada"
    assert seen_by_hook == ["Ada"]  # the hook runs after the commit


def test_when_the_commit_fails_nobody_is_told_it_succeeded(now, monkeypatch):
    user = make_user(now)
    committer = GroupCommitter("test", apply=rename_all)

    def refuse_commit(self):  # noqa: ANN001
        raise RuntimeError("disk full")

    monkeypatch.setattr(Session, "commit", refuse_commit)
    batch = [_Pending((user.id, "Grace"))]
    with pytest.raises(RuntimeError):
        committer.run_batch(batch)
    monkeypatch.undo()

    with pytest.raises(RuntimeError, match="disk full"):
        batch[0].future.result()
    assert display_name(user.id) != "Grace"


def test_items_submitted_together_all_complete(now):
    users = [make_user(now) for _ in range(6)]
    committer = GroupCommitter("test", apply=rename_all)
    futures = [committer.submit((user.id, f"name-{user.id}")) for user in users]
    assert [future.result(timeout=30) for future in futures] == [f"name-{u.id}" for u in users]
    assert 1 <= committer.batches <= len(users)
    assert all(display_name(user.id) == f"name-{user.id}" for user in users)


def open_tab(user_id: int, now) -> str:  # noqa: ANN001
    with session_scope() as session:
        token, _ = presence.start_presence_session(session=session, user_id=user_id, now=now)
    return token


def test_a_burst_of_joining_tabs_brings_each_user_online_once_recorded_and_audited(now):
    users = [make_user(now) for _ in range(8)]
    tabs = [(user.id, open_tab(user.id, now)) for user in users]
    tabs.append((users[0].id, open_tab(users[0].id, now)))  # a second tab of one user

    futures = [submit_full_heartbeat(uid, token) for uid, token in tabs]
    updates = [future.result(timeout=30) for future in futures]

    assert all(update.presence.state == "online" for update in updates)
    with read_scope() as session:
        rows = session.exec(select(PresenceChange)).all()
        audited = session.exec(
            select(AuditEvent).where(AuditEvent.action == "presence.changed")
        ).all()
        chain = verify_audit_chain(session=session)
    assert Counter((r.user_id, r.from_state, r.to_state) for r in rows) == Counter(
        {(user.id, "offline", "online"): 1 for user in users}
    )
    assert sorted(event.actor_id for event in audited) == sorted(user.id for user in users)
    assert chain.intact
    # Their next heartbeats can be answered from memory.
    assert all(presence_cache.peek(user.id).last_heartbeat_at is not None for user in users)
    rules = presence_rules_for_test()
    later = max(update.presence.last_heartbeat_at for update in updates)
    assert all(heartbeat_buffer.try_record(uid, token, later, rules) for uid, token in tabs)


def test_a_heartbeat_for_an_unknown_or_ended_tab_fails_alone(now):
    user = make_user(now)
    good, ended = open_tab(user.id, now), open_tab(user.id, now)
    with session_scope() as session:
        presence.close_tab(
            session=session, session_token=ended, now=now, rules=presence_rules_for_test()
        )
    futures = [
        submit_full_heartbeat(user.id, good),
        submit_full_heartbeat(user.id, "svp_not-a-real-tab"),
        submit_full_heartbeat(user.id, ended),
    ]
    assert futures[0].result(timeout=30).presence.state == "online"
    with pytest.raises(NotFound):
        futures[1].result(timeout=30)
    with pytest.raises(InvalidInput):
        futures[2].result(timeout=30)
    with read_scope() as session:
        changes = session.exec(select(func.count()).select_from(PresenceChange)).one()
    assert changes == 1


def presence_rules_for_test():
    from services.policy import presence_rules

    return presence_rules()
