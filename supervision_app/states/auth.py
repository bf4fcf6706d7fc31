"""Who is signed in to this browser tab, and the guards that pages run on load."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import reflex as rx

from services import sign_in as sign_in_service
from services import users as user_service
from services.actors import Actor
from services.clock import utcnow
from services.config import get_settings
from services.db import read_scope, session_scope
from services.errors import DomainError
from services.users import UserRead

LOGIN_ROUTE = "/login"
HOME_ROUTE = "/"


def resolve_token(token: str) -> UserRead | None:
    """The user behind a dashboard token, or None when it is missing or no longer valid."""
    if not token:
        return None
    try:
        with read_scope() as session:
            return user_service.resolve_login_token(session=session, token=token, now=utcnow())
    except DomainError:
        return None


class AuthState(rx.State):
    """The signed-in user; the token lives in the browser's local storage, hashed in the DB."""

    token: str = rx.LocalStorage("", name="supervision_token", sync=True)
    user_id: int = 0
    username: str = ""
    display_name: str = ""
    role: str = ""
    login_error: str = ""
    needs_first_admin: bool = False
    busy: bool = False

    @rx.var
    def is_signed_in(self) -> bool:
        return self.user_id > 0

    @rx.var
    def is_admin(self) -> bool:
        return self.role == "admin"

    def _apply(self, user: UserRead | None) -> None:
        self.user_id = user.id if user else 0
        self.username = user.username if user else ""
        self.display_name = user.display_name if user else ""
        self.role = str(user.role) if user else ""

    async def current_user(self) -> UserRead | None:
        """Re-check the token on the server; pages call this before touching data."""
        user = await asyncio.to_thread(resolve_token, self.token)
        self._apply(user)
        return user

    @rx.event
    async def require_login(self):
        """on_load guard for every dashboard page."""
        if await self.current_user() is None:
            return rx.redirect(LOGIN_ROUTE)

    @rx.event
    async def load_login_page(self):
        if await self.current_user() is not None:
            return rx.redirect(HOME_ROUTE)
        self.needs_first_admin = await asyncio.to_thread(_no_users_yet)
        self.login_error = ""

    @rx.event
    async def sign_in(self, form: dict[str, str]):
        username = (form.get("username") or "").strip()
        password = form.get("password") or ""
        if not username or not password:
            self.login_error = "Enter your username and password."
            return
        self.busy = True
        yield
        try:
            address = self.router.session.client_ip or "unknown"
            sign_in = await asyncio.to_thread(_sign_in, username, password, address)
        except DomainError as error:
            self.login_error = error.message.capitalize() + "."
            return
        finally:
            self.busy = False
        self.token = sign_in.token
        self._apply(sign_in.user)
        self.login_error = ""
        yield rx.redirect(HOME_ROUTE)

    @rx.event
    async def create_first_admin(self, form: dict[str, str]):
        """First run only: the first account becomes an admin and is signed in."""
        password = form.get("password") or ""
        if password != (form.get("password_again") or ""):
            self.login_error = "The two passwords differ."
            return
        try:
            sign_in = await asyncio.to_thread(
                _create_first_admin, (form.get("username") or "").strip(), password
            )
        except DomainError as error:
            self.login_error = error.message.capitalize() + "."
            return
        self.token = sign_in.token
        self._apply(sign_in.user)
        self.login_error = ""
        self.needs_first_admin = False
        return rx.redirect(HOME_ROUTE)

    @rx.event
    async def sign_out(self):
        token = self.token
        if token:
            await asyncio.to_thread(_sign_out, token)
        self.token = ""
        self._apply(None)
        return rx.redirect(LOGIN_ROUTE)


def _no_users_yet() -> bool:
    with read_scope() as session:
        return user_service.count_users(session=session) == 0


def _ttl() -> timedelta:
    return timedelta(hours=get_settings().session_ttl_hours)


def _sign_in(username: str, password: str, address: str) -> user_service.SignIn:
    return sign_in_service.sign_in(
        username=username, password=password, address=address, now=utcnow()
    )


def _create_first_admin(username: str, password: str) -> user_service.SignIn:
    with session_scope() as session:
        if user_service.count_users(session=session) > 0:
            raise DomainError("an admin already exists: sign in instead")
        now = utcnow()
        user = user_service.create_user(
            session=session,
            username=username,
            password=password,
            role="admin",
            now=now,
            actor=Actor.system("first-run setup"),
        )
        return user_service.start_login_session(session=session, user=user, now=now, ttl=_ttl())


def _sign_out(token: str) -> None:
    with session_scope() as session:
        user_service.end_login_session(session=session, token=token, now=utcnow())
