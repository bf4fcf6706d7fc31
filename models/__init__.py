"""SQLModel tables and enums; importing this package registers every table."""

from models.agents import Agent
from models.audit import AuditEvent, AuditHead
from models.enums import (
    ActorType,
    Decision,
    EventKind,
    ExecutionStatus,
    InterventionKind,
    LogLevel,
    MaturityLevel,
    PresenceState,
    ProposalStatus,
    QueueStatus,
    SupervisionMode,
    UserRole,
)
from models.escalation import (
    DecisionLink,
    Delegation,
    EscalationChain,
    NotificationChannel,
    OnCallShift,
    OutgoingNotice,
    ProposalAsk,
)
from models.events import ExecutionEvent, Intervention
from models.notifications import Notification
from models.presence import PresenceChange, PresenceSession, PresenceStatus
from models.review import ReviewAllowList, ReviewerVerdict
from models.users import LoginSession, SignInCode, SignInFailure, User
from models.work import ActionRequest, Execution, Proposal, QueueEntry

__all__ = [
    "ActionRequest",
    "ActorType",
    "Agent",
    "AuditEvent",
    "AuditHead",
    "Decision",
    "DecisionLink",
    "Delegation",
    "EscalationChain",
    "EventKind",
    "Execution",
    "ExecutionEvent",
    "ExecutionStatus",
    "Intervention",
    "InterventionKind",
    "LogLevel",
    "LoginSession",
    "MaturityLevel",
    "Notification",
    "NotificationChannel",
    "OnCallShift",
    "OutgoingNotice",
    "PresenceChange",
    "PresenceSession",
    "PresenceState",
    "PresenceStatus",
    "Proposal",
    "ProposalAsk",
    "ProposalStatus",
    "QueueEntry",
    "QueueStatus",
    "ReviewAllowList",
    "ReviewerVerdict",
    "SignInCode",
    "SignInFailure",
    "SupervisionMode",
    "User",
    "UserRole",
]
