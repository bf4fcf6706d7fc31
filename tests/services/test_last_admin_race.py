"""Two admins deactivating each other at once leave one admin active (#16 item 10). On
PostgreSQL the second waits for the first's rows (FOR UPDATE) and then sees one admin left;
without the lock it reads two and both commit. SQLite's writer lock serialises them anyway."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import select

from models import User
from services import users as user_service
from services.actors import Actor
from services.db import read_scope, session_scope
from services.errors import Conflict
from tests.factories import make_user

pytestmark = pytest.mark.usefixtures("database")


def test_two_admins_deactivating_each_other_at_once_leave_one(now):
    first, second = make_user(now, role="admin"), make_user(now, role="admin")
    outcome: list[object] = []

    def deactivate_first() -> None:
        try:
            with session_scope() as session:
                user_service.update_user(
                    session=session,
                    user_id=first.id,
                    is_active=False,
                    now=now,
                    actor=Actor.system(),
                )
            outcome.append("deactivated")
        except Conflict as refused:
            outcome.append(refused)

    with session_scope() as session:
        user_service.update_user(
            session=session, user_id=second.id, is_active=False, now=now, actor=Actor.system()
        )
        other = threading.Thread(target=deactivate_first)
        other.start()
        other.join(1.0)  # it waits for this transaction (with the lock), or goes ahead (without)
    other.join(10)
    with read_scope() as session:
        active = session.exec(
            select(User).where(User.role == "admin", User.is_active == True)  # noqa: E712
        ).all()
    assert len(active) == 1
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict)
