"""Enumerations of the domain; stored as their string values."""

from __future__ import annotations

from enum import StrEnum


class UserRole(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    VIEWER = "viewer"


class MaturityLevel(StrEnum):
    STUDENT = "STUDENT"
    INTERN = "INTERN"
    SUPERVISED = "SUPERVISED"
    AUTONOMOUS = "AUTONOMOUS"


class PresenceState(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class QueueStatus(StrEnum):
    PENDING = "pending"
    EXECUTING = "executing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ProposalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # by its agent, before anyone decided: nothing of it runs


class ExecutionStatus(StrEnum):
    """An execution is `ready` until the agent reports its first event; `lost` when nobody
    heard from its agent past the lost threshold (services/executions.py owns the moves)."""

    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"
    LOST = "lost"


FINISHED_EXECUTION_STATUSES = frozenset(
    {
        ExecutionStatus.COMPLETED,
        ExecutionStatus.FAILED,
        ExecutionStatus.TERMINATED,
        ExecutionStatus.LOST,
    }
)
ACTIVE_EXECUTION_STATUSES = frozenset(
    {ExecutionStatus.READY, ExecutionStatus.RUNNING, ExecutionStatus.PAUSED}
)


class Decision(StrEnum):
    """What the governance check answered to an action request."""

    BLOCKED = "blocked"
    PROPOSED = "proposed"
    QUEUED = "queued"
    APPROVED_TO_RUN = "approved_to_run"


class SupervisionMode(StrEnum):
    NONE = "none"
    HUMAN = "human"
    AUTONOMOUS = "autonomous"


class EventKind(StrEnum):
    LOG = "log"
    PROGRESS = "progress"
    OUTPUT = "output"
    COMPLETED = "completed"
    FAILED = "failed"
    CONTROL = "control"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class InterventionKind(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    CORRECTION = "correction"
    TERMINATE = "terminate"
    COMPLETE = "complete"


class ActorType(StrEnum):
    USER = "user"
    AGENT = "agent"
    AUTONOMOUS_SUPERVISOR = "autonomous_supervisor"
    SYSTEM = "system"
