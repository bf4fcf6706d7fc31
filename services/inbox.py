""" "Needs you": everything waiting for a supervisor, in one list ranked by risk and age.

Gathers what today sits on several screens: proposals waiting for a decision, runs held by a
pause, runs that went quiet (stale) or were given up on (lost), work queued until the
supervisor is back, and agent callbacks that could not be delivered. A supervisor sees what
is theirs; an admin sees the team's (as the sidebar counts do); a viewer acts on nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from models import Agent, Execution, Notification, Proposal, ProposalStatus, QueueEntry, QueueStatus
from models.enums import FINISHED_EXECUTION_STATUSES, ExecutionStatus, InterventionKind
from models.events import Intervention
from services.escalation import asked_of
from services.execution_reads import watched_by
from services.executions import is_stale
from services.policy import LivenessPolicy
from services.users import UserRead

RECENT = timedelta(hours=24)  # lost runs and failed callbacks older than this have been seen
LIMIT_PER_KIND = 200
# How much each kind of item weighs when nothing more is known: a lost run may or may not
# have done its work, a held run blocks an agent, queued work only waits.
RISK_RANK = {"high": 3, "medium": 2, "unreviewed": 2, "safe": 1, "low": 1}
KIND_RISK = {
    "lost_run": "high",
    "stale_run": "medium",
    "paused_run": "medium",
    "queued": "safe",
    "failed_callback": "medium",
}


@dataclass(frozen=True)
class InboxItem:
    kind: str  # proposal, paused_run, stale_run, lost_run, queued, failed_callback
    object_id: int
    agent_id: int
    agent: str
    action: str
    detail: str
    risk: str
    since: datetime
    deadline: datetime | None = None
    parameters: dict[str, Any] | None = None
    execution_id: int | None = None
    supervisor_id: int | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.object_id}"


def rank(item: InboxItem) -> tuple[int, datetime]:
    """Riskiest first; among equals, the one waiting longest."""
    return (-RISK_RANK.get(item.risk, 2), item.since)


def needs_you(
    *, session: Session, caller: UserRead, now: datetime, liveness: LivenessPolicy
) -> list[InboxItem]:
    """Everything waiting for `caller`, ranked (`rank`)."""
    if not caller.may_supervise:
        return []
    mine = None if caller.is_admin else caller.id
    names = {a.id: a.name for a in session.exec(select(Agent)).all()}
    items = [
        *_proposals(session, mine, names, now),
        *_runs(session, mine, names, now, liveness),
        *_queued(session, mine, names),
        *_failed_callbacks(session, mine, names, now),
    ]
    return sorted(items, key=rank)


def _proposals(
    session: Session, mine: int | None, names: dict[int, str], now: datetime
) -> list[InboxItem]:
    query = select(Proposal).where(Proposal.status == ProposalStatus.PENDING)
    if mine is not None:
        query = query.where(asked_of(mine, now))
    rows = session.exec(query.order_by(col(Proposal.created_at)).limit(LIMIT_PER_KIND)).all()
    return [
        InboxItem(
            kind="proposal",
            object_id=p.id or 0,
            agent_id=p.agent_id,
            agent=names.get(p.agent_id, "?"),
            action=p.action,
            detail=p.reason or "",
            risk=p.risk or "unreviewed",
            since=p.created_at,
            deadline=p.step_deadline or p.expires_at,
            parameters=p.parameters,
            supervisor_id=p.supervisor_id,
        )
        for p in rows
    ]


def _runs(
    session: Session,
    mine: int | None,
    names: dict[int, str],
    now: datetime,
    liveness: LivenessPolicy,
) -> list[InboxItem]:
    active = [ExecutionStatus.RUNNING, ExecutionStatus.READY, ExecutionStatus.PAUSED]
    query = select(Execution).where(
        col(Execution.status).in_([s.value for s in active])
        | (
            (Execution.status == ExecutionStatus.LOST)
            & (col(Execution.finished_at) >= now - RECENT)
        )
    )
    if mine is not None:
        query = query.where(watched_by(mine))
    runs = session.exec(query.order_by(col(Execution.created_at)).limit(LIMIT_PER_KIND * 3)).all()
    completed = _supervision_completed(session, [r.id for r in runs if r.status == "lost"])
    paused_at = _paused_at(session, [r.id for r in runs if r.status == "paused"])
    items = []
    for run in runs:
        heard = run.last_seen_at or run.created_at
        silent = _minutes(now - heard)
        if run.status == ExecutionStatus.LOST:
            if run.id in completed:
                continue  # its supervisor has looked at it and closed it
            kind, detail, since = "lost_run", f"Lost: the agent was last heard {silent} ago.", heard
        elif run.status == ExecutionStatus.PAUSED:
            since = paused_at.get(run.id or 0, heard)  # held since the pause, however alive
            kind, detail = "paused_run", "Paused: resume it or terminate it."
        elif is_stale(run, now, liveness):
            kind, detail, since = "stale_run", f"No word from the agent for {silent}.", heard
        else:
            continue
        items.append(
            InboxItem(
                kind=kind,
                object_id=run.id or 0,
                agent_id=run.agent_id,
                agent=names.get(run.agent_id, "?"),
                action=run.action,
                detail=detail,
                risk=KIND_RISK[kind],
                since=since,
                execution_id=run.id,
                supervisor_id=run.supervisor_user_id,
            )
        )
    return items


def _paused_at(session: Session, run_ids: list[int | None]) -> dict[int, datetime]:
    """When each paused run was last paused."""
    ids = [i for i in run_ids if i is not None]
    if not ids:
        return {}
    rows = session.exec(
        select(Intervention.execution_id, func.max(Intervention.created_at))
        .where(col(Intervention.execution_id).in_(ids), Intervention.kind == InterventionKind.PAUSE)
        .group_by(Intervention.execution_id)
    ).all()
    return {execution_id: at for execution_id, at in rows}


def _supervision_completed(session: Session, run_ids: list[int | None]) -> set[int]:
    ids = [i for i in run_ids if i is not None]
    if not ids:
        return set()
    rows = session.exec(
        select(Intervention.execution_id).where(
            col(Intervention.execution_id).in_(ids),
            Intervention.kind == InterventionKind.COMPLETE,
        )
    ).all()
    return set(rows)


def _queued(session: Session, mine: int | None, names: dict[int, str]) -> list[InboxItem]:
    query = select(QueueEntry).where(QueueEntry.status == QueueStatus.PENDING)
    if mine is not None:
        query = query.where(QueueEntry.supervisor_id == mine)
    rows = session.exec(query.order_by(col(QueueEntry.created_at)).limit(LIMIT_PER_KIND)).all()
    return [
        InboxItem(
            kind="queued",
            object_id=q.id or 0,
            agent_id=q.agent_id,
            agent=names.get(q.agent_id, "?"),
            action=q.action,
            detail=q.reason or "Waits for you to be available, or for Run now.",
            risk=KIND_RISK["queued"],
            since=q.created_at,
            deadline=q.expires_at,
            parameters=q.parameters,
            supervisor_id=q.supervisor_id,
        )
        for q in rows
    ]


def _failed_callbacks(
    session: Session, mine: int | None, names: dict[int, str], now: datetime
) -> list[InboxItem]:
    query = select(Notification).where(col(Notification.failed_at) >= now - RECENT)
    if mine is not None:
        query = query.join(Agent, col(Agent.id) == Notification.agent_id).where(
            Agent.supervisor_id == mine
        )
    rows = session.exec(query.order_by(col(Notification.failed_at)).limit(LIMIT_PER_KIND)).all()
    return [
        InboxItem(
            kind="failed_callback",
            object_id=n.id or 0,
            agent_id=n.agent_id,
            agent=names.get(n.agent_id, "?"),
            action=n.event,
            detail=f"The agent's callback could not be delivered: {n.last_error or 'no answer'}.",
            risk=KIND_RISK["failed_callback"],
            since=n.failed_at or n.created_at,
        )
        for n in rows
    ]


def sidebar_counts(
    *, session: Session, user_id: int, is_admin: bool, now: datetime, all_runs: bool = False
) -> tuple[int, int, int]:
    """Pending proposals, queued entries and active runs: the team's for an admin, else the
    ones this person supervises (or, for proposals, was asked about); `all_runs` counts the
    team's runs (a viewer's Monitoring shows them all)."""
    proposals = (
        select(func.count()).select_from(Proposal).where(Proposal.status == ProposalStatus.PENDING)
    )
    queued = (
        select(func.count()).select_from(QueueEntry).where(QueueEntry.status == QueueStatus.PENDING)
    )
    active = (
        select(func.count())
        .select_from(Execution)
        .where(col(Execution.status).not_in([s.value for s in FINISHED_EXECUTION_STATUSES]))
    )
    if not is_admin:
        proposals = proposals.where(asked_of(user_id, now))
        queued = queued.where(QueueEntry.supervisor_id == user_id)
        if not all_runs:
            active = active.where(watched_by(user_id))
    return (
        session.exec(proposals).one(),
        session.exec(queued).one(),
        session.exec(active).one(),
    )


def _minutes(elapsed: timedelta) -> str:
    seconds = max(0, int(elapsed.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
