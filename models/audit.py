"""The append-only, hash-chained audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlmodel import Field, SQLModel

from models.enums import ActorType
from models.types import UTCDateTime


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_type: ActorType = Field(sa_type=String(24))
    actor_id: int | None = None
    actor_name: str = Field(default="", sa_type=String(120))
    action: str = Field(sa_type=String(64), index=True)
    object_type: str = Field(sa_type=String(32))
    object_id: str | None = Field(default=None, sa_type=String(64))
    before: Any | None = Field(default=None, sa_type=JSON)
    after: Any | None = Field(default=None, sa_type=JSON)
    request_id: str | None = Field(default=None, sa_type=String(64))
    prev_hash: str = Field(sa_type=String(64))
    hash: str = Field(sa_type=String(64), unique=True)


class AuditHead(SQLModel, table=True):
    """A single row holding the chain's head; locking it serialises appends on any database."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    last_hash: str = Field(sa_type=String(64))
