"""Who did something: carried into every service call that changes state."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from models.enums import ActorType

# Set by the HTTP layer for each request, so audit events can name the request.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


@dataclass(frozen=True, slots=True)
class Actor:
    type: ActorType
    id: int | None
    name: str

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(ActorType.SYSTEM, None, name)
