"""Users, sign-in and sign-in sessions."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, update
from sqlmodel import Session, col, func, select

from models import ActorType, LoginSession, SignInCode, User, UserRole
from services.actors import Actor
from services.audit import record_audit
from services.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, PermissionDenied
from services.presence_memory import invalidate_after_commit
from services.security import (
    USER_TOKEN_PREFIX,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)

USERNAME_PATTERN = re.compile(r"^[a-zA-Z0-9_.-]{2,64}$")
MIN_PASSWORD_LENGTH = 8


class UserRead(BaseModel):
    id: int
    username: str
    display_name: str
    role: UserRole
    is_active: bool
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.ADMIN

    @property
    def may_supervise(self) -> bool:
        """Admins and supervisors with an active account; a viewer (say, a supervisor who was
        demoted) watches, approves and steers nothing."""
        return self.is_active and self.role != UserRole.VIEWER

    @property
    def sees_the_team(self) -> bool:
        """Admins and viewers read every run (a viewer, read-only: they watch the team's work
        and steer none of it); a supervisor reads their own."""
        return self.is_active and self.role in (UserRole.ADMIN, UserRole.VIEWER)

    def require_supervisor_role(self, doing: str) -> None:
        if not self.may_supervise:
            raise PermissionDenied(f"viewers cannot {doing}; ask an admin for the supervisor role")

    def as_actor(self) -> Actor:
        return Actor(ActorType.USER, self.id, self.username)


class SignIn(BaseModel):
    user: UserRead
    token: str
    expires_at: datetime


def _read(user: User) -> UserRead:
    return UserRead.model_validate(user, from_attributes=True)


def _validate_new_user(username: str, password: str, role: str) -> UserRole:
    if not USERNAME_PATTERN.match(username):
        raise InvalidInput(
            "username must be 2-64 letters, digits, '.', '_' or '-'", field="username"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    try:
        return UserRole(role)
    except ValueError:
        allowed = ", ".join(r.value for r in UserRole)
        raise InvalidInput(f"role must be one of: {allowed}", field="role") from None


def count_users(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(User)).one()


def create_user(
    *,
    session: Session,
    username: str,
    password: str,
    role: str,
    now: datetime,
    actor: Actor,
    display_name: str | None = None,
) -> UserRead:
    """Create a user with an argon2-hashed password; usernames are unique, case-insensitively."""
    username = username.strip()
    user_role = _validate_new_user(username, password, role)
    clash = session.exec(select(User).where(func.lower(User.username) == username.lower())).first()
    if clash is not None:
        raise Conflict(f"a user named '{username}' already exists", field="username")
    user = User(
        username=username,
        display_name=(display_name or username).strip() or username,
        role=user_role,
        password_hash=hash_password(password),
        created_at=now,
    )
    session.add(user)
    session.flush()
    record_audit(
        session=session,
        actor=actor,
        action="user.created",
        object_type="user",
        object_id=user.id,
        now=now,
        after={"username": user.username, "role": user.role.value},
    )
    return _read(user)


def get_user(*, session: Session, user_id: int) -> UserRead:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return _read(user)


def list_users(*, session: Session) -> list[UserRead]:
    return [_read(u) for u in session.exec(select(User).order_by(col(User.username))).all()]


def update_user(
    *,
    session: Session,
    user_id: int,
    now: datetime,
    actor: Actor,
    role: str | None = None,
    is_active: bool | None = None,
) -> UserRead:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    before = {"role": user.role, "is_active": user.is_active}
    stays_admin = (role is None or role == UserRole.ADMIN) and is_active is not False
    if user.role == UserRole.ADMIN and user.is_active and not stays_admin:
        # The active admins' rows are locked (PostgreSQL; SQLite's writer lock serialises):
        # two admins deactivating each other at once cannot both see "one more is left".
        active_admins = session.exec(
            select(User.id)
            .where(User.role == UserRole.ADMIN, User.is_active == True)  # noqa: E712
            .with_for_update()
        ).all()
        if len(active_admins) <= 1:
            raise Conflict(
                "the last active admin cannot be demoted or deactivated: make another admin first",
                field="role" if role is not None else "is_active",
            )
    if role is not None:
        try:
            user.role = UserRole(role)
        except ValueError:
            raise InvalidInput("unknown role", field="role") from None
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            _revoke_all_sessions(session, user.id or 0, now)
    session.add(user)
    invalidate_after_commit(session, user.id or 0)
    record_audit(
        session=session,
        actor=actor,
        action="user.updated",
        object_type="user",
        object_id=user.id,
        now=now,
        before=before,
        after={"role": user.role, "is_active": user.is_active},
    )
    return _read(user)


def check_password(*, session: Session, username: str, password: str) -> UserRead:
    """Verify credentials; the same error for an unknown user and a wrong password."""
    user = session.exec(
        select(User).where(func.lower(User.username) == username.strip().lower())
    ).first()
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise AuthenticationFailed("wrong username or password")
    return _read(user)


def start_login_session(
    *, session: Session, user: UserRead, now: datetime, ttl: timedelta
) -> SignIn:
    """Record a sign-in and hand back its bearer token (stored only as a hash)."""
    token = new_token(USER_TOKEN_PREFIX)
    expires_at = now + ttl
    session.add(
        LoginSession(
            user_id=user.id, token_hash=token_hash(token), created_at=now, expires_at=expires_at
        )
    )
    record_audit(
        session=session,
        actor=user.as_actor(),
        action="user.signed_in",
        object_type="user",
        object_id=user.id,
        now=now,
    )
    return SignIn(user=user, token=token, expires_at=expires_at)


def resolve_login_token(*, session: Session, token: str, now: datetime) -> UserRead:
    """The user a bearer token belongs to; expired, revoked or unknown tokens fail alike."""
    return resolve_login(session=session, token=token, now=now)[0]


def resolve_login(*, session: Session, token: str, now: datetime) -> tuple[UserRead, datetime]:
    """The user a bearer token belongs to, and when that sign-in expires."""
    (answer,) = resolve_logins(session=session, tokens=[token], now=now)
    if isinstance(answer, AuthenticationFailed):
        raise answer
    return answer


def resolve_logins(
    *, session: Session, tokens: list[str], now: datetime
) -> list[tuple[UserRead, datetime] | AuthenticationFailed]:
    """`resolve_login` for many tokens in one query (a burst of dashboards connecting);
    expired, revoked or unknown tokens fail alike."""
    hashes = {token: token_hash(token) for token in tokens if token.startswith(USER_TOKEN_PREFIX)}
    rows = session.exec(
        select(LoginSession, User)
        .join(User, col(User.id) == LoginSession.user_id)
        .where(col(LoginSession.token_hash).in_(set(hashes.values())))
    ).all()
    found = {login.token_hash: (login, user) for login, user in rows}
    answers: list[tuple[UserRead, datetime] | AuthenticationFailed] = []
    for token in tokens:
        login, user = found.get(hashes.get(token, ""), (None, None))
        if (
            login is None
            or user is None
            or login.revoked_at is not None
            or login.expires_at <= now
            or not user.is_active
        ):
            answers.append(AuthenticationFailed("invalid or expired session"))
        else:
            answers.append((_read(user), login.expires_at))
    return answers


def end_login_session(*, session: Session, token: str, now: datetime) -> None:
    login = session.exec(
        select(LoginSession).where(LoginSession.token_hash == token_hash(token))
    ).first()
    if login is not None and login.revoked_at is None:
        login.revoked_at = now
        session.add(login)


def _revoke_all_sessions(session: Session, user_id: int, now: datetime) -> None:
    for login in session.exec(
        select(LoginSession).where(
            LoginSession.user_id == user_id, col(LoginSession.revoked_at).is_(None)
        )
    ).all():
        login.revoked_at = now
        session.add(login)


SIGN_IN_CODE_TTL = timedelta(seconds=30)
SIGN_IN_CODE_PREFIX = "svc_"


def issue_sign_in_code(*, session: Session, user: UserRead, now: datetime) -> str:
    """A one-time code for the browser to exchange for its HttpOnly sign-in cookie (only the
    code's hash is kept; it is good for SIGN_IN_CODE_TTL and once)."""
    code = new_token(SIGN_IN_CODE_PREFIX)
    session.add(
        SignInCode(code_hash=token_hash(code), user_id=user.id, expires_at=now + SIGN_IN_CODE_TTL)
    )
    return code


def forget_old_sign_in_codes(*, session: Session, now: datetime) -> int:
    """Codes past their time are of no use to anyone."""
    result = session.exec(  # type: ignore[call-overload]
        delete(SignInCode).where(col(SignInCode.expires_at) < now)
    )
    return result.rowcount or 0


def redeem_sign_in_code(*, session: Session, code: str, now: datetime, ttl: timedelta) -> SignIn:
    """Use a code once, within its time, for an active user: the sign-in it stands for.
    A second use, a late one or an unknown code fail alike."""
    used = session.exec(  # type: ignore[call-overload]
        update(SignInCode)
        .where(
            col(SignInCode.code_hash) == token_hash(code),
            col(SignInCode.used_at).is_(None),
            col(SignInCode.expires_at) > now,
        )
        .values(used_at=now)
        .returning(SignInCode.user_id)
    ).first()
    user = session.get(User, used[0]) if used else None
    if user is None or not user.is_active:
        raise AuthenticationFailed("the sign-in link was used, expired or is unknown")
    return start_login_session(session=session, user=_read(user), now=now, ttl=ttl)
