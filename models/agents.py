"""Agents: external programs that ask to act."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, Text
from sqlmodel import Field, SQLModel

from models.enums import MaturityLevel
from models.types import UTCDateTime


class Agent(SQLModel, table=True):
    __tablename__ = "agents"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=String(80), unique=True, index=True)
    description: str = Field(default="", sa_type=Text)
    category: str = Field(sa_type=String(60), index=True)
    specialties: list[str] = Field(default_factory=list, sa_type=JSON)
    maturity_level: MaturityLevel = Field(sa_type=String(16))
    supervisor_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    can_supervise: bool = False
    is_enabled: bool = True
    api_key_hash: str = Field(sa_type=String(64), unique=True, index=True)
    api_key_hint: str = Field(sa_type=String(24))
    # Signs callback notifications; the agent receives it once with its key.
    webhook_secret: str = Field(sa_type=String(64))
    callback_url: str | None = Field(default=None, sa_type=String(500))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    key_rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
