"""Who is signed in to this browser tab, and the guards that pages run on load."""

from __future__ import annotations

import asyncio
import json
from datetime import tzinfo
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlencode

import reflex as rx

from services import sign_in as sign_in_service
from services import users as user_service
from services.actors import Actor
from services.clock import utcnow
from services.config import get_settings
from services.db import read_scope, session_scope
from services.demo import sign_in_hint
from services.errors import DomainError
from services.login_cache import signed_in_user
from services.users import UserRead
from supervision_app.api.auth import local_page
from supervision_app.components.timefmt import zone_from_cookies
from supervision_app.states import data

LOGIN_ROUTE = "/login"
HOME_ROUTE = "/"


async def dashboard_user(token: str) -> UserRead | None:
    """The user behind a dashboard token, or None when it is missing or no longer valid
    (through the sign-in cache, as the API checks: every dashboard event asks)."""
    if not token:
        return None
    try:
        return await signed_in_user(token)
    except DomainError:
        return None


SESSION_COOKIE = "supervision_session"


def viewer_zone(state: rx.State) -> tzinfo:
    """The time zone the viewer's browser is in (its `sv_tz` cookie, read from the websocket's
    handshake like the sign-in cookie), UTC when it is missing or unknown."""
    return zone_from_cookies(state.router.headers.cookie)


def _goto(url: str) -> rx.event.EventSpec:
    """A full page load (the cookie set or cleared on the way reaches the next websocket)."""
    return rx.call_script(f"window.location.replace({json.dumps(url)})")


class AuthState(rx.State):
    """The signed-in user. The sign-in token lives in an HttpOnly cookie the page's scripts
    cannot read; the server reads it from the websocket's handshake (hashed in the DB)."""

    user_id: int = 0
    username: str = ""
    display_name: str = ""
    role: str = ""
    login_error: str = ""
    needs_first_admin: bool = False
    demo_hint: str = ""  # `make demo`: the accounts to sign in with
    busy: bool = False
    next_page: str = HOME_ROUTE  # where sign-in goes on to: the page that was asked for

    @rx.var
    def is_signed_in(self) -> bool:
        return self.user_id > 0

    @rx.var
    def is_admin(self) -> bool:
        return self.role == "admin"

    def _apply(self, user: UserRead | None) -> None:
        """Show `user`; unchanged values are not assigned (each assignment is sent to the tab)."""
        shown = {
            "user_id": user.id if user else 0,
            "username": user.username if user else "",
            "display_name": user.display_name if user else "",
            "role": str(user.role) if user else "",
        }
        for name, value in shown.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    def _token(self) -> str:
        cookies = SimpleCookie()
        try:
            cookies.load(self.router.headers.cookie or "")
        except CookieError:
            return ""
        morsel = cookies.get(SESSION_COOKIE)
        return morsel.value if morsel else ""

    async def current_user(self) -> UserRead | None:
        """Re-check the token on the server; pages call this before touching data."""
        user = await dashboard_user(self._token())
        self._apply(user)
        return user

    @rx.event
    async def require_login(self):
        """on_load guard for every dashboard page: signed out, go to sign-in, which comes
        back here afterwards."""
        if await self.current_user() is None:
            asked = self.router.page.raw_path or HOME_ROUTE
            if asked in ("", HOME_ROUTE, "/index"):
                return rx.redirect(LOGIN_ROUTE)
            return rx.redirect(f"{LOGIN_ROUTE}?{urlencode({'next': asked})}")

    @rx.event
    async def load_login_page(self):
        self.busy = False  # a sign-in earlier in this tab left its spinner on
        self.next_page = local_page(self.router.page.params.get("next", ""))
        if await self.current_user() is not None:
            return rx.redirect(self.next_page)
        self.needs_first_admin = await asyncio.to_thread(_no_users_yet)
        self.demo_hint = sign_in_hint() if get_settings().demo_mode else ""
        expired = "expired=1" in str(self.router.url)
        self.login_error = "That sign-in took too long; sign in again." if expired else ""

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
            code = await asyncio.to_thread(_sign_in_code, username, password, address)
        except DomainError as error:
            self.login_error = data.sentence(error.message)
            self.busy = False
            return
        self.login_error = ""
        # The busy spinner stays until the page is replaced.
        yield _goto(f"/api/auth/browser?{urlencode({'code': code, 'next': self.next_page})}")

    @rx.event
    async def create_first_admin(self, form: dict[str, str]):
        """First run only: the first account becomes an admin and is signed in."""
        password = form.get("password") or ""
        if password != (form.get("password_again") or ""):
            self.login_error = "The two passwords differ."
            return
        try:
            code = await asyncio.to_thread(
                _create_first_admin, (form.get("username") or "").strip(), password
            )
        except DomainError as error:
            self.login_error = data.sentence(error.message)
            return
        self.login_error = ""
        return _goto(f"/api/auth/browser?code={code}&next={HOME_ROUTE}")

    @rx.event
    async def sign_out(self):
        """The sign-out route ends the sign-in and removes its cookie."""
        self._apply(None)
        return _goto("/api/auth/browser/sign-out")


def _no_users_yet() -> bool:
    with read_scope() as session:
        return user_service.count_users(session=session) == 0


def _sign_in_code(username: str, password: str, address: str) -> str:
    return sign_in_service.sign_in_code(
        username=username, password=password, address=address, now=utcnow()
    )


def _create_first_admin(username: str, password: str) -> str:
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
        return user_service.issue_sign_in_code(session=session, user=user, now=now)
