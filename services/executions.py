"""The one owner of a run's state: every move of an execution happens here.

A run moves only along `TRANSITIONS`, under a row lock (`SELECT … FOR UPDATE` on PostgreSQL;
SQLite's single writer already serialises writers), so an agent's report, a supervisor's
control and the liveness pass can race without a lost update, a duplicate sequence number
or a terminated run that completes. A move the table does not allow raises `RunConflict`:
a 409 that carries the run's status and the controls the agent must honour, never a 500.

Controls (pause, resume, correction, terminate) are delivered at least once: each has an
id, is sent with every answer to the agent until the agent acknowledges it, and every answer
also carries the run's status, so an agent that lost an answer or restarted still learns
that it is paused or must stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from models import (
    ActorType,
    EventKind,
    Execution,
    ExecutionEvent,
    ExecutionStatus,
    Intervention,
    InterventionKind,
)
from models.enums import ACTIVE_EXECUTION_STATUSES, FINISHED_EXECUTION_STATUSES
from services.actors import Actor
from services.audit import record_audit
from services.changes import note_change
from services.errors import Conflict, NotFound
from services.queue import settle_queue_entry_for, settle_withdrawn
from services.rows import insert_row


class RunCommand(StrEnum):
    """Everything that can happen to a run, by whom it may be asked."""

    START = "start"  # the agent's first report (implicit)
    LOG = "log"  # agent: a log line
    WORK = "work"  # agent: progress or output
    COMPLETE = "complete"  # agent
    FAIL = "fail"  # agent
    PAUSE = "pause"  # supervisor (human or AI)
    RESUME = "resume"  # supervisor
    CORRECT = "correction"  # supervisor
    TERMINATE = "terminate"  # supervisor
    LOSE = "lose"  # the liveness pass: nobody heard from the agent


_S, _C = ExecutionStatus, RunCommand

# status -> command -> new status. RESUME returns to `ready` when the agent never started.
TRANSITIONS: dict[ExecutionStatus, dict[RunCommand, ExecutionStatus]] = {
    _S.READY: {
        _C.START: _S.RUNNING,
        _C.PAUSE: _S.PAUSED,
        _C.CORRECT: _S.READY,
        _C.TERMINATE: _S.TERMINATED,
        _C.LOSE: _S.LOST,
    },
    _S.RUNNING: {
        _C.LOG: _S.RUNNING,
        _C.WORK: _S.RUNNING,
        _C.COMPLETE: _S.COMPLETED,
        _C.FAIL: _S.FAILED,
        _C.PAUSE: _S.PAUSED,
        _C.CORRECT: _S.RUNNING,
        _C.TERMINATE: _S.TERMINATED,
        _C.LOSE: _S.LOST,
    },
    # Paused: the agent may only log, give up, and poll; progress, output and completion wait.
    _S.PAUSED: {
        _C.LOG: _S.PAUSED,
        _C.FAIL: _S.FAILED,
        _C.RESUME: _S.RUNNING,
        _C.CORRECT: _S.PAUSED,
        _C.TERMINATE: _S.TERMINATED,
        _C.LOSE: _S.LOST,
    },
    _S.COMPLETED: {},
    _S.FAILED: {},
    _S.TERMINATED: {},
    _S.LOST: {},
}

_WHY_REFUSED = {
    _S.PAUSED: "the run is paused: only log lines and a failure report are accepted until a "
    "supervisor resumes it (poll GET …/control)",
    _S.READY: "the run has not started",
    _S.RUNNING: "the run is not paused",
}


class Control(BaseModel):
    """An instruction for the agent; send its id back in `ack` once applied."""

    id: int
    type: Literal["pause", "resume", "correction", "terminate"]
    text: str | None
    at: datetime


class ControlState(BaseModel):
    """What every answer to the agent carries: where the run stands and what to apply."""

    execution_id: int
    status: ExecutionStatus
    paused: bool
    ended: bool
    reason: str | None = None
    controls: list[Control]


class RunConflict(Conflict):
    """A move the state table does not allow; the answer carries the run's control state."""

    def __init__(self, message: str, state: ControlState) -> None:
        super().__init__(message)
        self.state = state

    @property
    def extra(self) -> dict[str, Any]:
        return self.state.model_dump(mode="json")


@dataclass(frozen=True)
class LivenessPolicy:
    """A run silent past `stale_after` is shown stale; past `lost_after` it ends `lost`."""

    stale_after: timedelta
    lost_after: timedelta


def next_status(execution: Execution, command: RunCommand) -> ExecutionStatus | None:
    """Where `command` takes the run now; None when the table does not allow it."""
    target = TRANSITIONS[ExecutionStatus(execution.status)].get(command)
    if command == RunCommand.RESUME and target is not None and execution.started_at is None:
        return ExecutionStatus.READY
    return target


# Built once: every report and control poll runs them.
_LOCK_RUN = (
    select(Execution)
    .where(col(Execution.id) == bindparam("execution_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_PENDING_CONTROLS = (
    select(
        Intervention.id,
        Intervention.kind,
        Intervention.text,
        Intervention.created_at,
        Intervention.delivered_at,
    )
    .where(
        col(Intervention.execution_id) == bindparam("execution_id"),
        col(Intervention.acknowledged_at).is_(None),
    )
    .order_by(col(Intervention.id))
)


def lock_run(session: Session, execution_id: int) -> Execution:
    """The run, locked for this transaction (PostgreSQL) and read fresh."""
    execution = session.execute(_LOCK_RUN, {"execution_id": execution_id}).scalar()
    if execution is None:
        raise NotFound("no such execution")
    return execution


def lock_agent_run(session: Session, *, agent_id: int, execution_id: int) -> Execution:
    execution = lock_run(session, execution_id)
    if execution.agent_id != agent_id:
        raise NotFound("no such execution")
    return execution


def append_event(
    session: Session,
    execution: Execution,
    *,
    kind: EventKind,
    now: datetime,
    level: str | None = None,
    message: str | None = None,
    data: Any | None = None,
) -> None:
    """The run's next event in sequence (the run must be locked by this transaction)."""
    execution.last_seq += 1
    insert_row(
        session,
        ExecutionEvent,
        execution_id=execution.id or 0,
        seq=execution.last_seq,
        kind=kind,
        level=level,
        message=message,
        data=data,
        created_at=now,
    )
    session.add(execution)
    note_change(session, f"events:{execution.id}")


def issue_control(
    session: Session,
    execution: Execution,
    *,
    kind: InterventionKind,
    actor: Actor,
    text: str | None,
    now: datetime,
    rating: int | None = None,
) -> Intervention:
    """The one place a control is written: stored for delivery and shown in the run's log."""
    by_user = actor.id if actor.type == ActorType.USER else None
    by_agent = actor.id if actor.type == ActorType.AUTONOMOUS_SUPERVISOR else None
    for_agent = kind != InterventionKind.COMPLETE  # ending supervision is not for the agent
    intervention = Intervention(
        execution_id=execution.id or 0,
        user_id=by_user,
        agent_id=by_agent,
        kind=kind,
        text=text,
        rating=rating,
        created_at=now,
        delivered_at=None if for_agent else now,
        acknowledged_at=None if for_agent else now,
    )
    session.add(intervention)
    who = {
        ActorType.AUTONOMOUS_SUPERVISOR: f"{actor.name} (AI supervisor)",
        ActorType.SYSTEM: "Supervision",
    }.get(actor.type, actor.name)
    data: dict[str, Any] = {"control": kind.value, "text": text, "by": actor.name}
    if actor.type == ActorType.AUTONOMOUS_SUPERVISOR:
        data["autonomous"] = True
    if rating is not None:
        data["rating"] = rating
    if kind == InterventionKind.COMPLETE:
        message = f"{who} completed supervision" + (f" ({rating}/5)" if rating else "")
        message += f": {text}" if text else ""
    else:
        message = f"{who}: {kind.value}" + (f" — {text}" if text else "")
    warning = kind == InterventionKind.TERMINATE or actor.type != ActorType.USER
    append_event(
        session,
        execution,
        kind=EventKind.CONTROL,
        now=now,
        level="warning" if warning else "info",
        message=message,
        data=data,
    )
    session.flush()
    return intervention


def _finish(session: Session, execution: Execution, status: ExecutionStatus, now: datetime) -> None:
    held = execution.status == ExecutionStatus.PAUSED
    execution.status = status
    execution.finished_at = now
    session.add(execution)
    session.flush()
    settle_queue_entry_for(session=session, execution=execution, now=now, held=held)


def steer_locked(
    session: Session,
    execution: Execution,
    *,
    command: RunCommand,
    actor: Actor,
    text: str | None,
    now: datetime,
) -> Intervention:
    """Pause, resume, correct or terminate a run this transaction has locked."""
    target = next_status(execution, command)
    if target is None:
        verb = "correct" if command == RunCommand.CORRECT else command.value
        raise RunConflict(
            f"cannot {verb} a run that is {execution.status}",
            control_state(session, execution),
        )
    before = str(execution.status)
    if command == RunCommand.TERMINATE:
        execution.error = f"terminated by {actor.name}: {text}"
    intervention = issue_control(
        session, execution, kind=InterventionKind(command.value), actor=actor, text=text, now=now
    )
    if target in FINISHED_EXECUTION_STATUSES:
        _finish(session, execution, target, now)
    else:
        execution.status = target
        session.add(execution)
    record_audit(
        session=session,
        actor=actor,
        action=f"execution.{command.value}",
        object_type="execution",
        object_id=execution.id,
        now=now,
        before={"status": before},
        after={"status": str(execution.status), "text": text},
    )
    return intervention


def lose_locked(
    session: Session, execution: Execution, *, why: str, actor: Actor, now: datetime
) -> None:
    """Nobody heard from the agent: the run ends `lost`, and the agent, if it comes back, is
    told to stop with a `terminate` control."""
    if next_status(execution, RunCommand.LOSE) is None:
        raise RunConflict(
            f"a {execution.status} run cannot be lost", control_state(session, execution)
        )
    execution.error = why
    issue_control(
        session, execution, kind=InterventionKind.TERMINATE, actor=actor, text=why, now=now
    )
    _finish(session, execution, ExecutionStatus.LOST, now)


def start_if_ready(session: Session, execution: Execution, actor: Actor, now: datetime) -> None:
    """The agent's first report moves a ready run to running."""
    if execution.status != ExecutionStatus.READY:
        return
    execution.status = ExecutionStatus.RUNNING
    execution.started_at = now
    record_audit(
        session=session,
        actor=actor,
        action="execution.started",
        object_type="execution",
        object_id=execution.id,
        now=now,
    )


def end_by_agent(
    session: Session,
    execution: Execution,
    *,
    status: ExecutionStatus,
    actor: Actor,
    now: datetime,
) -> None:
    """The agent's own `completed` or `failed` (already checked against the table)."""
    _finish(session, execution, status, now)
    record_audit(
        session=session,
        actor=actor,
        action=f"execution.{status}",
        object_type="execution",
        object_id=execution.id,
        now=now,
        after={"status": str(status), "error": execution.error},
    )


def abandon_unstarted(
    session: Session, *, agent_id: int, execution_id: int, why: str, actor: Actor, now: datetime
) -> bool:
    """The agent withdrew an ask that was approved (or dispatched) just before: its run, if
    nothing of the agent has touched it yet (never picked up, never started), ends failed
    with `why`, so it is not left "ready" until found lost. A run handed out to the agent
    (`/agents/me/work`) or picked up — another of its workers may be doing the work — is left
    to that worker. True when ended."""
    execution = lock_agent_run(session, agent_id=agent_id, execution_id=execution_id)
    untouched = (
        execution.picked_up_at is None
        and execution.started_at is None
        and execution.offered_at is None
    )
    if not untouched or execution.status not in (ExecutionStatus.READY, ExecutionStatus.PAUSED):
        return False
    execution.error = why
    # Its queue entry ends first, as withdrawn: a failed run would send it back to the queue.
    settle_withdrawn(session=session, execution=execution, why=why, actor=actor, now=now)
    end_by_agent(session, execution, status=ExecutionStatus.FAILED, actor=actor, now=now)
    return True


def seen(execution: Execution, now: datetime) -> None:
    """The agent reported or polled: the run is alive, and may have had effects."""
    execution.last_seen_at = now
    if execution.picked_up_at is None:
        execution.picked_up_at = now


def acknowledge(session: Session, *, execution_id: int, ids: list[int], now: datetime) -> None:
    """The agent applied these controls: stop sending them."""
    if not ids:
        return
    session.execute(
        update(Intervention)
        .where(
            col(Intervention.execution_id) == execution_id,
            col(Intervention.id).in_(ids),
            col(Intervention.acknowledged_at).is_(None),
        )
        .values(acknowledged_at=now)
    )


def control_state(
    session: Session, execution: Execution, *, delivered_at: datetime | None = None
) -> ControlState:
    """The run's status and its unacknowledged controls, oldest first; with `delivered_at`,
    controls sent for the first time are stamped as delivered."""
    return run_control_state(
        session,
        execution_id=execution.id or 0,
        status=ExecutionStatus(execution.status),
        error=execution.error,
        delivered_at=delivered_at,
    )


def run_control_state(
    session: Session,
    *,
    execution_id: int,
    status: ExecutionStatus,
    error: str | None,
    delivered_at: datetime | None = None,
) -> ControlState:
    """`control_state` from the run's columns (for paths that hold no ORM object)."""
    # Columns, not ORM objects: every report and control poll answers with this.
    pending = session.execute(_PENDING_CONTROLS, {"execution_id": execution_id}).all()
    first_time = [row.id for row in pending if row.delivered_at is None]
    if delivered_at is not None and first_time:
        session.execute(
            update(Intervention)
            .where(col(Intervention.id).in_(first_time), col(Intervention.delivered_at).is_(None))
            .values(delivered_at=delivered_at)
        )
    controls = [
        Control(id=row.id, type=row.kind, text=row.text, at=row.created_at) for row in pending
    ]
    ended = status in FINISHED_EXECUTION_STATUSES
    return ControlState(
        execution_id=execution_id,
        status=status,
        paused=status == ExecutionStatus.PAUSED,
        ended=ended,
        reason=error if ended else None,
        controls=controls,
    )


def refusal(execution: Execution, command: RunCommand) -> str:
    """Why the agent's report is refused in this status."""
    status = ExecutionStatus(execution.status)
    if status in FINISHED_EXECUTION_STATUSES:
        return f"the run is {status}; it accepts no more events" + (
            f" ({execution.error})" if execution.error else ""
        )
    return _WHY_REFUSED.get(status, f"{command.value} is not allowed while {status}")


def is_stale(execution: Any, now: datetime, policy: LivenessPolicy) -> bool:
    """Active, and silent past the stale threshold (works on rows and read models)."""
    return (
        str(execution.status) in ACTIVE_EXECUTION_STATUSES
        and execution.last_seen_at is not None
        and execution.last_seen_at < now - policy.stale_after
    )
