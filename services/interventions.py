"""Supervisors stepping into a run: pause, resume, correct, terminate, complete.

Each intervention is stored for delivery through the agent's control channel, written into the
run's event log (so watchers see it as it happens), and audited.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, select

from models import (
    EventKind,
    Execution,
    ExecutionEvent,
    ExecutionStatus,
    Intervention,
    InterventionKind,
)
from models.enums import FINISHED_EXECUTION_STATUSES
from services.audit import record_audit
from services.errors import Conflict, InvalidInput, NotFound
from services.queue import settle_queue_entry_for
from services.users import UserRead


class InterventionRead(BaseModel):
    id: int
    execution_id: int
    user_id: int | None
    kind: InterventionKind
    text: str | None
    rating: int | None
    created_at: datetime
    delivered_at: datetime | None


def watchable_execution(*, session: Session, execution_id: int, caller: UserRead) -> Execution:
    """An execution the caller may watch and steer: theirs, or any for admins."""
    execution = session.get(Execution, execution_id)
    if execution is None or (not caller.is_admin and execution.supervisor_user_id != caller.id):
        raise NotFound("no such execution")
    return execution


def intervene(
    *,
    session: Session,
    execution_id: int,
    caller: UserRead,
    kind: str,
    now: datetime,
    text: str | None = None,
) -> InterventionRead:
    try:
        intervention_kind = InterventionKind(kind)
    except ValueError:
        raise InvalidInput(
            "kind must be pause, resume, correction or terminate", field="kind"
        ) from None
    if intervention_kind == InterventionKind.COMPLETE:
        raise InvalidInput("use the complete route to end supervision", field="kind")
    execution = watchable_execution(session=session, execution_id=execution_id, caller=caller)
    if execution.status in FINISHED_EXECUTION_STATUSES:
        raise Conflict(f"execution is already {execution.status}")
    text = (text or "").strip() or None
    before = str(execution.status)
    if intervention_kind == InterventionKind.PAUSE:
        if execution.status == ExecutionStatus.PAUSED:
            raise Conflict("execution is already paused")
        execution.status = ExecutionStatus.PAUSED
    elif intervention_kind == InterventionKind.RESUME:
        if execution.status != ExecutionStatus.PAUSED:
            raise Conflict("only a paused execution can be resumed")
        execution.status = (
            ExecutionStatus.RUNNING if execution.started_at else ExecutionStatus.READY
        )
    elif intervention_kind == InterventionKind.CORRECTION:
        if not text:
            raise InvalidInput("a correction needs its text", field="text")
    elif intervention_kind == InterventionKind.TERMINATE:
        if not text:
            raise InvalidInput("say why the run is terminated", field="text")
        execution.status = ExecutionStatus.TERMINATED
        execution.finished_at = now
        execution.error = f"terminated by {caller.username}: {text}"
    intervention = Intervention(
        execution_id=execution.id or 0,
        user_id=caller.id,
        kind=intervention_kind,
        text=text,
        created_at=now,
    )
    session.add(intervention)
    execution.last_seq += 1
    session.add(
        ExecutionEvent(
            execution_id=execution.id or 0,
            seq=execution.last_seq,
            kind=EventKind.CONTROL,
            level="warning" if intervention_kind == InterventionKind.TERMINATE else "info",
            message=f"{caller.display_name}: {intervention_kind.value}"
            + (f" — {text}" if text else ""),
            data={"control": intervention_kind.value, "text": text, "by": caller.username},
            created_at=now,
        )
    )
    session.add(execution)
    session.flush()
    if execution.status == ExecutionStatus.TERMINATED:
        settle_queue_entry_for(session=session, execution=execution, now=now)
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action=f"execution.{intervention_kind.value}",
        object_type="execution",
        object_id=execution.id,
        now=now,
        before={"status": before},
        after={"status": str(execution.status), "text": text},
    )
    return InterventionRead.model_validate(intervention, from_attributes=True)


def complete_supervision(
    *,
    session: Session,
    execution_id: int,
    caller: UserRead,
    now: datetime,
    note: str,
    rating: int | None,
) -> InterventionRead:
    """End supervision of a run with a note and a 1-5 rating (the run itself is not stopped)."""
    if rating is not None and not 1 <= rating <= 5:
        raise InvalidInput("rating must be 1 to 5", field="rating")
    execution = watchable_execution(session=session, execution_id=execution_id, caller=caller)
    already = session.exec(
        select(Intervention).where(
            Intervention.execution_id == execution_id,
            Intervention.kind == InterventionKind.COMPLETE,
        )
    ).first()
    if already is not None:
        raise Conflict("supervision of this run was already completed")
    note = (note or "").strip()
    intervention = Intervention(
        execution_id=execution_id,
        user_id=caller.id,
        kind=InterventionKind.COMPLETE,
        text=note or None,
        rating=rating,
        created_at=now,
        delivered_at=now,
    )
    session.add(intervention)
    execution.last_seq += 1
    session.add(
        ExecutionEvent(
            execution_id=execution_id,
            seq=execution.last_seq,
            kind=EventKind.CONTROL,
            level="info",
            message=f"{caller.display_name} completed supervision"
            + (f" ({rating}/5)" if rating else "")
            + (f": {note}" if note else ""),
            data={
                "control": "complete",
                "text": note or None,
                "rating": rating,
                "by": caller.username,
            },
            created_at=now,
        )
    )
    session.add(execution)
    session.flush()
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="execution.supervision_completed",
        object_type="execution",
        object_id=execution_id,
        now=now,
        after={"note": note or None, "rating": rating},
    )
    return InterventionRead.model_validate(intervention, from_attributes=True)


def list_interventions(*, session: Session, execution_id: int) -> list[InterventionRead]:
    rows = session.exec(
        select(Intervention)
        .where(Intervention.execution_id == execution_id)
        .order_by(Intervention.id)  # type: ignore[arg-type]
    ).all()
    return [InterventionRead.model_validate(r, from_attributes=True) for r in rows]
