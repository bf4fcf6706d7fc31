"""Sign-in and user management."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services import users as user_service
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.sign_in import sign_in
from services.users import SignIn, UserRead
from supervision_app.api.auth import AdminDep, UserDep, bearer_token, forget_user_token
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
