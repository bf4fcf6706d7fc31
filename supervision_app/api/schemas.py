"""Request bodies; unknown fields are refused so typos never pass silently."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(StrictBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


Role = Literal["admin", "supervisor", "viewer"]
# Accepted in any case ("intern" too); documented as the four levels.
Level = Annotated[
    str,
    Field(
        max_length=16,
        json_schema_extra={"enum": ["STUDENT", "INTERN", "SUPERVISED", "AUTONOMOUS"]},
    ),
]


class UserCreateBody(StrictBody):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Role
    display_name: str | None = Field(default=None, max_length=120)


class UserUpdateBody(StrictBody):
    role: Role | None = None
    is_active: bool | None = None


class AgentCreateBody(StrictBody):
    name: str = Field(min_length=2, max_length=80)
    category: str = Field(min_length=1, max_length=60)
    maturity_level: Level
    description: str = Field(default="", max_length=2000)
    specialties: list[str] = Field(default_factory=list, max_length=20)
    supervisor_id: int | None = None
    can_supervise: bool = False
    callback_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")


class AgentUpdateBody(StrictBody):
    maturity_level: Level | None = None
    supervisor_id: int | None = None
    description: str | None = Field(default=None, max_length=2000)
    category: str | None = Field(default=None, max_length=60)
    specialties: list[str] | None = Field(default=None, max_length=20)
    can_supervise: bool | None = None
    is_enabled: bool | None = None
    callback_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
