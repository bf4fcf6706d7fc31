"""Sign-in and user management."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from services import users as user_service
from services.clock import utcnow
from services.config import get_settings
from services.db import read_scope, session_scope
from services.errors import DomainError
from services.sign_in import sign_in
from services.users import SignIn, UserRead
from supervision_app.api.auth import (
    AdminDep,
    UserDep,
    bearer_token,
    forget_user_token,
    local_page,
)
from supervision_app.api.schemas import LoginBody, UserCreateBody, UserUpdateBody

router = APIRouter(prefix="/api", tags=["users"])


@router.post("/auth/login", responses={429: {"description": "too many failed attempts"}})
def login(body: LoginBody, request: Request) -> SignIn:
    """Exchange a username and password for a bearer token."""
    address = request.client.host if request.client else "unknown"
    return sign_in(username=body.username, password=body.password, address=address, now=utcnow())


@router.post("/auth/logout", status_code=204)
def logout(request: Request, _user: UserDep) -> None:
    forget_user_token(bearer_token(request))
    with session_scope() as session:
        user_service.end_login_session(session=session, token=bearer_token(request), now=utcnow())


SESSION_COOKIE = "supervision_session"


def _from_this_site(request: Request) -> bool:
    """The browser says the navigation came from one of this site's own pages. Another site
    could otherwise send a victim here with its own code (signing them in as the attacker)
    or sign them out; every current browser sends Sec-Fetch-Site, and without it: no."""
    return request.headers.get("sec-fetch-site") == "same-origin"


@router.get("/auth/browser", include_in_schema=False)
def browser_sign_in(request: Request, code: str = "", next: str = "/") -> RedirectResponse:
    """The dashboard's sign-in lands here with its one-time code: the answer sets the
    HttpOnly cookie that holds the sign-in token (page scripts never see it) and goes on."""
    if not _from_this_site(request):
        return RedirectResponse("/login", status_code=303)
    ttl = timedelta(hours=get_settings().session_ttl_hours)
    try:
        with session_scope() as session:
            signed_in = user_service.redeem_sign_in_code(
                session=session, code=code, now=utcnow(), ttl=ttl
            )
    except DomainError:
        return RedirectResponse("/login?expired=1", status_code=303)
    response = RedirectResponse(local_page(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        max_age=int(ttl.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https"
        or get_settings().resolved_site_url.startswith("https://"),
    )
    return response


@router.get("/auth/browser/sign-out", include_in_schema=False)
def browser_sign_out(request: Request) -> RedirectResponse:
    """Ends the dashboard's sign-in and removes its cookie (asked from this site only)."""
    if not _from_this_site(request):
        return RedirectResponse("/login", status_code=303)
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        forget_user_token(token)
        with session_scope() as session:
            user_service.end_login_session(session=session, token=token, now=utcnow())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me")
def whoami(user: UserDep) -> UserRead:
    return user


@router.get("/users")
def list_users(_user: UserDep) -> list[UserRead]:
    with read_scope() as session:
        return user_service.list_users(session=session)


@router.post("/users", status_code=201)
def create_user(body: UserCreateBody, admin: AdminDep) -> UserRead:
    with session_scope() as session:
        return user_service.create_user(
            session=session,
            username=body.username,
            password=body.password,
            role=body.role,
            display_name=body.display_name,
            now=utcnow(),
            actor=admin.as_actor(),
        )


@router.patch("/users/{user_id}")
def update_user(user_id: int, body: UserUpdateBody, admin: AdminDep) -> UserRead:
    with session_scope() as session:
        return user_service.update_user(
            session=session,
            user_id=user_id,
            role=body.role,
            is_active=body.is_active,
            now=utcnow(),
            actor=admin.as_actor(),
        )
