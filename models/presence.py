"""Supervisors' presence: derived state, tab sessions, overrides and their history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from models.enums import PresenceState
from models.types import UTCDateTime


class PresenceStatus(SQLModel, table=True):
    """One row per user: the current state and any manual override."""

    __tablename__ = "presence_status"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    state: PresenceState = Field(sa_type=String(16))
    since: datetime = Field(sa_type=UTCDateTime)
    last_heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    override_state: PresenceState | None = Field(default=None, sa_type=String(16))
    override_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PresenceSession(SQLModel, table=True):
    """One open dashboard tab; its heartbeats make its user present."""

    __tablename__ = "presence_sessions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(sa_type=String(64), unique=True, index=True)
    user_agent: str = Field(default="", sa_type=String(300))
    started_at: datetime = Field(sa_type=UTCDateTime)
    last_heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "closed" (the tab said so, or its user ended it) or "silent" (no activity for the
    # offline threshold): only a close ends "appear online".
    ended_because: str | None = Field(default=None, sa_type=String(16))


class PresenceChange(SQLModel, table=True):
    __tablename__ = "presence_changes"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    from_state: PresenceState = Field(sa_type=String(16))
    to_state: PresenceState = Field(sa_type=String(16))
    reason: str = Field(sa_type=String(32))
    at: datetime = Field(sa_type=UTCDateTime)
