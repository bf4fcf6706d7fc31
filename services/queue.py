"""The supervised queue: SUPERVISED work that waits for its supervisor, and runs exactly once.

Every state change is a conditional UPDATE that reports whether it won, so the scheduler, a
presence change, a manual "process" call, or another app process can race without any entry
running twice. A claim takes a fresh lease token; settling an entry is conditional on the
execution it was dispatched as, so a run whose entry was taken back changes nothing. A
dispatched entry's liveness is its run's (services/run_liveness.py): when the run is lost, the
entry goes back to pending only if the agent never picked it up.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, update
from sqlmodel import Session, col, func, select

from models import (
    ActorType,
    Agent,
    Execution,
    ExecutionStatus,
    QueueEntry,
    QueueStatus,
    SupervisionMode,
)
from services.actors import Actor
from services.audit import record_audit
from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.escalation import available_delegate
from services.notifications import notify_agent
from services.presence import PresenceRules, supervisor_is_available
from services.users import UserRead
from services.views import QueueEntryRead

BACKOFF_BASE = timedelta(seconds=30)


@dataclass(frozen=True)
class QueuePolicy:
    presence: PresenceRules


@dataclass(frozen=True)
class Dispatched:
    entry_id: int
    execution_id: int
    agent_id: int


def _read(entry: QueueEntry) -> QueueEntryRead:
    return QueueEntryRead.model_validate(entry, from_attributes=True)


def _visible_entry(session: Session, entry_id: int, caller: UserRead) -> QueueEntry:
    entry = session.get(QueueEntry, entry_id)
    if entry is None or (not caller.is_admin and entry.supervisor_id != caller.id):
        raise NotFound("no such queue entry")
    return entry


def get_entry(*, session: Session, entry_id: int, caller: UserRead) -> QueueEntryRead:
    return _read(_visible_entry(session, entry_id, caller))


def list_entries(
    *,
    session: Session,
    supervisor_id: int | None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[QueueEntryRead]:
    """Pending first by priority, then the rest newest first."""
    query = select(QueueEntry)
    if supervisor_id is not None:
        query = query.where(QueueEntry.supervisor_id == supervisor_id)
    if status:
        try:
            query = query.where(QueueEntry.status == QueueStatus(status))
        except ValueError:
            allowed = ", ".join(s.value for s in QueueStatus)
            raise InvalidInput(f"status must be one of: {allowed}", field="status") from None
    pending_first = QueueEntry.status != QueueStatus.PENDING
    query = query.order_by(
        pending_first, col(QueueEntry.priority).desc(), col(QueueEntry.created_at).desc()
    )
    return [_read(e) for e in session.exec(query.offset(offset).limit(limit)).all()]


def _audit(
    session: Session,
    actor: Actor,
    action: str,
    entry_id: int,
    now: datetime,
    before: str,
    after: str,
) -> None:
    record_audit(
        session=session,
        actor=actor,
        action=action,
        object_type="queue_entry",
        object_id=entry_id,
        now=now,
        before={"status": before},
        after={"status": after},
    )


def cancel_entry(
    *, session: Session, entry_id: int, caller: UserRead, now: datetime
) -> QueueEntryRead:
    caller.require_supervisor_role("change the queue")
    entry = _visible_entry(session, entry_id, caller)
    won = session.exec(  # type: ignore[call-overload]
        update(QueueEntry)
        .where(col(QueueEntry.id) == entry_id, QueueEntry.status == QueueStatus.PENDING)
        .values(status=QueueStatus.CANCELLED, finished_at=now)
    ).rowcount
    if not won:
        raise Conflict(f"entry is {entry.status}; only pending entries can be cancelled")
    _audit(session, caller.as_actor(), "queue.cancelled", entry_id, now, "pending", "cancelled")
    session.refresh(entry)
    return _read(entry)


def withdraw_by_agent(
    *, session: Session, agent_id: int, entry_id: int, actor: Actor, reason: str, now: datetime
) -> bool:
    """The agent gave up on its queued action before it was dispatched: it is cancelled, so
    no run is handed out that nobody would start. False when it was dispatched (or ended)
    first."""
    entry = session.get(QueueEntry, entry_id)
    if entry is None or entry.agent_id != agent_id:
        raise NotFound("no such queue entry")
    why = (f"withdrawn by the agent: {reason}" if reason else "withdrawn by the agent")[:2000]
    won = session.exec(  # type: ignore[call-overload]
        update(QueueEntry)
        .where(col(QueueEntry.id) == entry_id, QueueEntry.status == QueueStatus.PENDING)
        .values(status=QueueStatus.CANCELLED, finished_at=now, last_error=why)
    ).rowcount
    if not won:
        return False
    _audit(session, actor, "queue.withdrawn", entry_id, now, "pending", "cancelled")
    session.refresh(entry)
    return True


def set_priority(
    *, session: Session, entry_id: int, priority: int, caller: UserRead, now: datetime
) -> QueueEntryRead:
    caller.require_supervisor_role("change the queue")
    entry = _visible_entry(session, entry_id, caller)
    if entry.status != QueueStatus.PENDING:
        raise Conflict("only pending entries can be reordered")
    before = entry.priority
    entry.priority = priority
    session.add(entry)
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="queue.reprioritised",
        object_type="queue_entry",
        object_id=entry_id,
        now=now,
        before={"priority": before},
        after={"priority": priority},
    )
    return _read(entry)


def dispatch_for_supervisor(
    *,
    session: Session,
    supervisor_id: int,
    now: datetime,
    policy: QueuePolicy,
    force: bool = False,
    limit: int | None = None,
) -> list[Dispatched]:
    """Start the due pending entries of a supervisor who is available, or whose delegate is
    (who then watches them): higher priority, then oldest (at most `limit` of them)."""
    watcher: int | None = supervisor_id
    if not force and not supervisor_is_available(
        session=session, user_id=supervisor_id, now=now, rules=policy.presence
    ):
        watcher = available_delegate(
            session=session, user_id=supervisor_id, now=now, rules=policy.presence
        )
        if watcher is None:
            return []
    candidates = session.exec(
        select(QueueEntry)
        .where(
            QueueEntry.supervisor_id == supervisor_id,
            QueueEntry.status == QueueStatus.PENDING,
            QueueEntry.expires_at > now,
            (col(QueueEntry.not_before).is_(None)) | (col(QueueEntry.not_before) <= now),
        )
        .order_by(col(QueueEntry.priority).desc(), col(QueueEntry.created_at), col(QueueEntry.id))
        .limit(limit)
    ).all()
    if not candidates:
        return []
    return _claim_batch(session, list(candidates), now, policy, watcher)


def _claim_batch(
    session: Session,
    candidates: list[QueueEntry],
    now: datetime,
    policy: QueuePolicy,
    watcher: int | None = None,
) -> list[Dispatched]:
    """Claim many pending entries with one conditional UPDATE; only those still pending win.

    Each claim gets a fresh lease token (one per batch: a later re-claim always gets another),
    and the batch is one audit event listing every entry and the execution it became.
    """
    token = secrets.token_hex(16)
    order = {entry.id: index for index, entry in enumerate(candidates)}
    won = set(
        session.exec(  # type: ignore[call-overload]
            update(QueueEntry)
            .where(col(QueueEntry.id).in_(list(order)), QueueEntry.status == QueueStatus.PENDING)
            .values(
                status=QueueStatus.EXECUTING,
                lease_token=token,
                started_at=now,
                attempts=QueueEntry.attempts + 1,
            )
            .returning(QueueEntry.id)
        ).scalars()
    )
    entries = sorted((e for e in candidates if e.id in won), key=lambda e: order[e.id])
    if not entries:
        return []
    executions = [
        Execution(
            agent_id=entry.agent_id,
            action=entry.action,
            parameters=entry.parameters,
            reason=entry.reason,
            status=ExecutionStatus.READY,
            supervision=SupervisionMode.HUMAN,
            supervisor_user_id=watcher or entry.supervisor_id,
            queue_entry_id=entry.id,
            created_at=now,
            last_seen_at=now,
        )
        for entry in entries
    ]
    session.add_all(executions)
    session.flush()
    session.connection().execute(
        update(QueueEntry)
        .where(col(QueueEntry.id) == bindparam("entry_id"), QueueEntry.lease_token == token)
        .values(execution_id=bindparam("execution_id")),
        [{"entry_id": e.queue_entry_id, "execution_id": e.id} for e in executions],
    )
    dispatched = [
        Dispatched(entry_id=entry.id or 0, execution_id=execution.id or 0, agent_id=entry.agent_id)
        for entry, execution in zip(entries, executions, strict=True)
    ]
    record_audit(
        session=session,
        actor=Actor.system("queue"),
        action="queue.dispatched",
        object_type="queue_entry",
        object_id=dispatched[0].entry_id if len(dispatched) == 1 else None,
        now=now,
        before={"status": "pending"},
        after={
            "status": "executing",
            "dispatched": [[d.entry_id, d.execution_id] for d in dispatched],
            **({"watched_by": watcher} if watcher and watcher != entries[0].supervisor_id else {}),
        },
    )
    for entry, item in zip(entries, dispatched, strict=True):
        notify_agent(
            session=session,
            agent_id=entry.agent_id,
            event="queue.dispatched",
            now=now,
            payload={
                "queue_entry_id": item.entry_id,
                "execution_id": item.execution_id,
                "action": entry.action,
            },
        )
    return dispatched


def run_entry_now(
    *, session: Session, entry_id: int, caller: UserRead, now: datetime, policy: QueuePolicy
) -> Dispatched:
    """The supervisor starts one entry at once; they must be online to watch it."""
    caller.require_supervisor_role("run queued work")
    entry = _visible_entry(session, entry_id, caller)
    if entry.supervisor_id != caller.id:
        raise PermissionDenied("only the entry's supervisor can run it now")
    if not supervisor_is_available(
        session=session, user_id=caller.id, now=now, rules=policy.presence
    ):
        raise Conflict("you must be online to watch the run")
    if entry.status != QueueStatus.PENDING:
        raise Conflict(f"entry is {entry.status}")
    claimed = _claim_batch(session, [entry], now, policy)
    if not claimed:
        raise Conflict("entry was started by someone else")
    return claimed[0]


def has_pending(*, session: Session, supervisor_id: int) -> bool:
    return (
        session.exec(
            select(QueueEntry.id)
            .where(
                QueueEntry.supervisor_id == supervisor_id, QueueEntry.status == QueueStatus.PENDING
            )
            .limit(1)
        ).first()
        is not None
    )


def pending_among(*, session: Session, supervisor_ids: set[int]) -> set[int]:
    """Which of these supervisors have queued work waiting (one query for many)."""
    if not supervisor_ids:
        return set()
    return set(
        session.exec(
            select(QueueEntry.supervisor_id)
            .where(
                col(QueueEntry.supervisor_id).in_(supervisor_ids),
                QueueEntry.status == QueueStatus.PENDING,
            )
            .distinct()
        ).all()
    )


def supervisors_with_pending(*, session: Session, now: datetime) -> list[int]:
    return list(
        session.exec(
            select(QueueEntry.supervisor_id)
            .where(QueueEntry.status == QueueStatus.PENDING, QueueEntry.expires_at > now)
            .distinct()
        ).all()
    )


def backoff_for(attempts: int) -> timedelta:
    return BACKOFF_BASE * (2 ** max(0, attempts - 1))


def _settle_fenced(session: Session, entry: QueueEntry, values: dict[str, object]) -> bool:
    """Move an executing entry only while it still holds the claim this run was made under."""
    return bool(
        session.exec(  # type: ignore[call-overload]
            update(QueueEntry)
            .where(
                col(QueueEntry.id) == entry.id,
                QueueEntry.status == QueueStatus.EXECUTING,
                QueueEntry.lease_token == entry.lease_token,
            )
            .values(lease_token=None, **values)
        ).rowcount
    )


def _current_supervisor(entry: QueueEntry) -> ColumnElement[int]:
    """Back in the queue, an entry waits for its agent's supervisor of now (the agent may have
    been handed to another while its run was out), or its own if the agent has none."""
    agents_supervisor = (
        select(Agent.supervisor_id).where(Agent.id == entry.agent_id).scalar_subquery()
    )
    return func.coalesce(agents_supervisor, QueueEntry.supervisor_id)


def _fail_attempt(
    session: Session, entry: QueueEntry, now: datetime, error: str, *, final: bool = False
) -> str:
    """Back to pending with backoff, or failed after the last attempt (or at once when
    `final`); fenced on the claim."""
    final = final or entry.attempts >= entry.max_attempts
    values: dict[str, object] = {"last_error": error[:2000]}
    if final:
        values.update(status=QueueStatus.FAILED, finished_at=now)
    else:
        values.update(
            status=QueueStatus.PENDING,
            not_before=now + backoff_for(entry.attempts),
            execution_id=None,
            supervisor_id=_current_supervisor(entry),
        )
    if not _settle_fenced(session, entry, values):
        return ""
    new_status = "failed" if final else "pending"
    if final:
        notify_agent(
            session=session,
            agent_id=entry.agent_id,
            event="queue.failed",
            now=now,
            payload={"queue_entry_id": entry.id, "action": entry.action, "error": error[:500]},
        )
    _audit(
        session,
        Actor.system("queue"),
        "queue.attempt_failed",
        entry.id or 0,
        now,
        "executing",
        new_status,
    )
    return new_status


def _release_unoffered(session: Session, entry: QueueEntry, now: datetime, error: str) -> None:
    """Back to pending without spending an attempt: its agent never asked for it."""
    released = _settle_fenced(
        session,
        entry,
        {
            "status": QueueStatus.PENDING,
            "attempts": QueueEntry.attempts - 1,
            "not_before": now + BACKOFF_BASE,
            "execution_id": None,
            "last_error": error[:2000],
            "supervisor_id": _current_supervisor(entry),
        },
    )
    if released:
        _audit(
            session,
            Actor.system("queue"),
            "queue.released",
            entry.id or 0,
            now,
            "executing",
            "pending",
        )


def settle_queue_entry_for(
    *, session: Session, execution: Execution, now: datetime, held: bool = False
) -> None:
    """Called when a dispatched execution finishes: the entry follows its outcome. `held`:
    the run was paused by a supervisor when it failed or was lost; it is not retried behind
    their back."""
    if execution.queue_entry_id is None:
        return
    entry = session.get(QueueEntry, execution.queue_entry_id)
    if entry is None or entry.execution_id != execution.id or entry.status != QueueStatus.EXECUTING:
        return  # the lease was taken back: this execution no longer owns the entry
    if execution.status in (ExecutionStatus.COMPLETED, ExecutionStatus.TERMINATED):
        outcome = (
            QueueStatus.COMPLETED
            if execution.status == ExecutionStatus.COMPLETED
            else QueueStatus.CANCELLED
        )
        values: dict[str, object] = {"status": outcome, "finished_at": now}
        if outcome == QueueStatus.CANCELLED:
            values["last_error"] = execution.error
        if _settle_fenced(session, entry, values):
            _audit(
                session,
                Actor.system("queue"),
                f"queue.{outcome.value}",
                entry.id or 0,
                now,
                "executing",
                outcome.value,
            )
    elif held:
        _fail_attempt(
            session,
            entry,
            now,
            f"{execution.error}; it was paused by a supervisor, so it is not run again",
            final=True,
        )
    elif (
        execution.status == ExecutionStatus.LOST
        and execution.offered_at is None
        and (execution.picked_up_at is None)
    ):
        # The agent never even asked for its work (it is down, or not started yet): nothing
        # was attempted, so no attempt is spent; it waits in the queue again.
        _release_unoffered(session, entry, now, execution.error or "never offered")
    elif execution.status == ExecutionStatus.LOST and execution.picked_up_at is None:
        # Offered, never taken: nothing ran, so it may be offered again (an attempt spent).
        _fail_attempt(session, entry, now, execution.error or "the agent never picked it up")
    elif execution.status == ExecutionStatus.LOST:
        # The agent started and went silent: the action may have had effects, so it is not
        # run again (River's and Solid Queue's rule for orphaned jobs); a human decides.
        _fail_attempt(
            session,
            entry,
            now,
            f"{execution.error}; not run again: the agent had started it",
            final=True,
        )
    else:
        _fail_attempt(session, entry, now, execution.error or "execution failed")


def settle_withdrawn(
    *, session: Session, execution: Execution, why: str, actor: Actor, now: datetime
) -> None:
    """The agent withdrew the queued action this run was dispatched for, before anything of
    it touched the run: the entry ends cancelled — final, not back in the queue to be
    dispatched again."""
    if execution.queue_entry_id is None:
        return
    entry = session.get(QueueEntry, execution.queue_entry_id)
    if entry is None or entry.execution_id != execution.id or entry.status != QueueStatus.EXECUTING:
        return
    values = {"status": QueueStatus.CANCELLED, "finished_at": now, "last_error": why}
    if _settle_fenced(session, entry, values):
        _audit(session, actor, "queue.withdrawn", entry.id or 0, now, "executing", "cancelled")


def mark_expired(*, session: Session, now: datetime) -> list[QueueEntryRead]:
    """Pending entries past their expiry become expired."""
    due = session.exec(
        select(QueueEntry).where(
            QueueEntry.status == QueueStatus.PENDING, QueueEntry.expires_at <= now
        )
    ).all()
    expired = []
    for entry in due:
        won = session.exec(  # type: ignore[call-overload]
            update(QueueEntry)
            .where(col(QueueEntry.id) == entry.id, QueueEntry.status == QueueStatus.PENDING)
            .values(status=QueueStatus.EXPIRED, finished_at=now)
        ).rowcount
        if won:
            _audit(
                session,
                Actor(ActorType.SYSTEM, None, "queue"),
                "queue.expired",
                entry.id or 0,
                now,
                "pending",
                "expired",
            )
            session.refresh(entry)
            notify_agent(
                session=session,
                agent_id=entry.agent_id,
                event="queue.expired",
                now=now,
                payload={"queue_entry_id": entry.id, "action": entry.action},
            )
            expired.append(_read(entry))
    return expired


@dataclass(frozen=True)
class QueueStats:
    counts: dict[str, int]
    oldest_pending_age_s: float | None
    mean_wait_s: float | None


def queue_stats(*, session: Session, supervisor_id: int | None, now: datetime) -> QueueStats:
    scope = [] if supervisor_id is None else [QueueEntry.supervisor_id == supervisor_id]
    counts = {s.value: 0 for s in QueueStatus}
    for status, count in session.exec(
        select(QueueEntry.status, func.count()).where(*scope).group_by(QueueEntry.status)
    ).all():
        counts[str(status)] = count
    oldest = session.exec(
        select(func.min(QueueEntry.created_at)).where(
            QueueEntry.status == QueueStatus.PENDING, *scope
        )
    ).one()
    started = session.exec(
        select(QueueEntry.created_at, QueueEntry.started_at)
        .where(col(QueueEntry.started_at).is_not(None), *scope)
        .limit(1000)
    ).all()
    waits = []
    for created, begun in started:
        if created and begun:
            created_at = created if created.tzinfo else created.replace(tzinfo=now.tzinfo)
            begun_at = begun if begun.tzinfo else begun.replace(tzinfo=now.tzinfo)
            waits.append((begun_at - created_at).total_seconds())
    oldest_age = None
    if oldest is not None:
        oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
        oldest_age = (now - oldest_at).total_seconds()
    return QueueStats(
        counts=counts,
        oldest_pending_age_s=oldest_age,
        mean_wait_s=sum(waits) / len(waits) if waits else None,
    )
