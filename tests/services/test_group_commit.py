"""Group commit: one transaction for a burst of work, answered after the commit (sign-in
look-ups of the moment share one read this way)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from models import User
from services.db import read_scope
from services.errors import InvalidInput
from services.group_commit import GroupCommitter, _Pending
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
