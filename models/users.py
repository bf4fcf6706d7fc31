"""People who use the dashboard, and their sign-in sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from models.enums import UserRole
from models.types import UTCDateTime


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_type=String(64), unique=True, index=True)
    display_name: str = Field(sa_type=String(120))
    role: UserRole = Field(sa_type=String(16))
    password_hash: str = Field(sa_type=String(255))
    is_active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Where e-mail notices (services/notices.py) go; none: no e-mail.
    email: str | None = Field(default=None, sa_type=String(254))


class LoginSession(SQLModel, table=True):
    """A signed-in browser or API client; only the token's hash is kept."""

    __tablename__ = "login_sessions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(sa_type=String(64), unique=True, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SignInFailure(SQLModel, table=True):
    """A failed sign-in, kept for the limit's window, so a restart does not lift a lockout."""

    __tablename__ = "sign_in_failures"

    id: int | None = Field(default=None, primary_key=True)
    # "user:<username>|<address>" or "address:<address>"
    key: str = Field(sa_type=String(200), index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)


class SignInCode(SQLModel, table=True):
    """A one-time code a dashboard sign-in hands the browser, exchanged within seconds at
    /api/auth/browser for the HttpOnly cookie that holds the real token: the token itself
    never reaches the page's scripts. Only the code's hash is stored."""

    __tablename__ = "sign_in_codes"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(sa_type=String(64), unique=True, index=True)
    user_id: int = Field(foreign_key="users.id")
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
