"""What happens during an execution: the agent's events and supervisors' interventions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.enums import EventKind, InterventionKind
from models.types import UTCDateTime


class ExecutionEvent(SQLModel, table=True):
    __tablename__ = "execution_events"
    __table_args__ = (UniqueConstraint("execution_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="executions.id", index=True)
    seq: int
    kind: EventKind = Field(sa_type=String(16))
    level: str | None = Field(default=None, sa_type=String(16))
    message: str | None = Field(default=None, sa_type=Text)
    data: Any | None = Field(default=None, sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Intervention(SQLModel, table=True):
    """A control for a run (from a supervisor, the AI supervisor or the system).

    `delivered_at` is when it was first sent; it is sent again with every answer until the
    agent acknowledges it (`acknowledged_at`): delivery is at least once.
    """

    __tablename__ = "interventions"

    id: int | None = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="executions.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    agent_id: int | None = Field(default=None, foreign_key="agents.id")
    kind: InterventionKind = Field(sa_type=String(16))
    text: str | None = Field(default=None, sa_type=Text)
    rating: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
