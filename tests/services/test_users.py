from datetime import timedelta

import pytest

from services import users as user_service
from services.actors import Actor
from services.db import read_scope, session_scope
from services.errors import AuthenticationFailed, Conflict, InvalidInput
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.usefixtures("database")


def test_password_is_stored_hashed_with_argon2(now):
    user = make_user(now)
    from models import User

    with read_scope() as session:
        row = session.get(User, user.id)
    assert row.password_hash.startswith("$argon2")
    assert PASSWORD not in row.password_hash


def test_sign_in_with_right_password_gives_a_token_that_resolves(now):
    user = make_user(now)
    with session_scope() as session:
        checked = user_service.check_password(
            session=session, username=user.username, password=PASSWORD
        )
        sign_in = user_service.start_login_session(
            session=session, user=checked, now=now, ttl=timedelta(hours=1)
        )
    with read_scope() as session:
        resolved = user_service.resolve_login_token(session=session, token=sign_in.token, now=now)
    assert resolved.id == user.id


def test_token_stops_working_after_expiry_and_logout(now):
    user = make_user(now)
    with session_scope() as session:
        sign_in = user_service.start_login_session(
            session=session, user=user, now=now, ttl=timedelta(hours=1)
        )
    with read_scope() as session, pytest.raises(AuthenticationFailed):
        user_service.resolve_login_token(
            session=session, token=sign_in.token, now=now + timedelta(hours=2)
        )
    with session_scope() as session:
        user_service.end_login_session(session=session, token=sign_in.token, now=now)
    with read_scope() as session, pytest.raises(AuthenticationFailed):
        user_service.resolve_login_token(session=session, token=sign_in.token, now=now)


@pytest.mark.parametrize("username", ["nobody", "WRONG"])
def test_wrong_password_and_unknown_user_fail_alike(now, username):
    make_user(now, username="alice")
    with (
        read_scope() as session,
        pytest.raises(AuthenticationFailed, match="wrong username or password"),
    ):
        user_service.check_password(session=session, username=username, password="bad password")
    with read_scope() as session, pytest.raises(AuthenticationFailed):
        user_service.check_password(session=session, username="alice", password="bad password")


def test_duplicate_username_is_refused_case_insensitively(now):
    make_user(now, username="bob")
    with session_scope() as session, pytest.raises(Conflict) as error:
        user_service.create_user(
            session=session,
            username="BOB",
            password=PASSWORD,
            role="viewer",
            now=now,
            actor=Actor.system(),
        )
    assert error.value.field == "username"


@pytest.mark.parametrize(
    ("username", "password", "role", "field"),
    [
        ("x", PASSWORD, "viewer", "username"),
        ("carol", "short", "viewer", "password"),
        ("carol", PASSWORD, "king", "role"),
    ],
)
def test_bad_user_input_names_the_field_and_writes_nothing(now, username, password, role, field):
    with session_scope() as session, pytest.raises(InvalidInput) as error:
        user_service.create_user(
            session=session,
            username=username,
            password=password,
            role=role,
            now=now,
            actor=Actor.system(),
        )
    assert error.value.field == field
    with read_scope() as session:
        assert user_service.count_users(session=session) == 0


def test_deactivated_user_cannot_sign_in_and_loses_sessions(now):
    user = make_user(now)
    with session_scope() as session:
        sign_in = user_service.start_login_session(
            session=session, user=user, now=now, ttl=timedelta(hours=1)
        )
        user_service.update_user(
            session=session, user_id=user.id, is_active=False, now=now, actor=Actor.system()
        )
    with read_scope() as session, pytest.raises(AuthenticationFailed):
        user_service.resolve_login_token(session=session, token=sign_in.token, now=now)


def test_many_tokens_resolve_together_each_with_its_own_answer(now):
    def sign_in(user, hours=1):
        with session_scope() as session:
            return user_service.start_login_session(
                session=session, user=user, now=now, ttl=timedelta(hours=hours)
            ).token

    alice, bob = make_user(now), make_user(now)
    valid, short, signed_out = sign_in(alice), sign_in(bob, hours=0), sign_in(bob)
    with session_scope() as session:
        user_service.end_login_session(session=session, token=signed_out, now=now)

    tokens = [valid, "svu_unknown-token", short, signed_out, "not-even-a-token", valid]
    with read_scope() as session:
        answers = user_service.resolve_logins(session=session, tokens=tokens, now=now)

    assert answers[0] == answers[5]
    assert answers[0][0].id == alice.id and answers[0][1] == now + timedelta(hours=1)
    assert all(isinstance(answer, AuthenticationFailed) for answer in answers[1:5])
