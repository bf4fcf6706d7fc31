"""Domain errors; the API maps each to one HTTP status in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def extra(self) -> dict[str, object]:
        """More of the answer's body (a refused report carries the run's control state)."""
        return {}


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class InvalidInput(DomainError):
    status_code = 422


class AuthenticationFailed(DomainError):
    status_code = 401


class PermissionDenied(DomainError):
    status_code = 403


class AgentDisabled(PermissionDenied):
    """The API key is right but its agent is disabled: refused at every entry point."""

    def __init__(self, message: str, *, agent_id: int) -> None:
        super().__init__(message)
        self.agent_id = agent_id


class ActionBlocked(PermissionDenied):
    pass


class DatabaseBusy(DomainError):
    """Another writer held the database past DB_WRITE_WAIT_S: nothing was written; try
    again (with the same idempotency key, an action is then created once)."""

    status_code = 503

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimited(DomainError):
    status_code = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
