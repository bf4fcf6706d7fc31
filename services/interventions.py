"""Supervisors stepping into a run: pause, resume, correct, terminate, complete.

Who may steer which run is decided here; the move itself (the control for the agent, the
line in the run's log, the audit event) is the run's state machine's (services/executions.py).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, select

from models import Agent, Execution, Intervention, InterventionKind
from services.audit import record_audit
from services.errors import Conflict, InvalidInput, NotFound
from services.executions import RunCommand, issue_control, lock_run, steer_locked
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
    acknowledged_at: datetime | None = None


_STEERING = {RunCommand.PAUSE, RunCommand.RESUME, RunCommand.CORRECT, RunCommand.TERMINATE}


def watchable_execution(
    *, session: Session, execution_id: int, caller: UserRead, lock: bool = False
) -> Execution:
    """An execution the caller may watch and steer: one they watch, one of an agent they
    supervise (watched by their delegate, say), or any for admins (a viewer, a demoted
    supervisor included, watches none)."""
    execution = lock_run(session, execution_id) if lock else session.get(Execution, execution_id)
    if execution is None or not (caller.is_admin or _theirs(session, execution, caller)):
        raise NotFound("no such execution")
    return execution


def readable_execution(*, session: Session, execution_id: int, caller: UserRead) -> Execution:
    """An execution the caller may read (its page, its stream): any for admins and viewers
    (viewers read the team's runs and steer none), else one they may watch and steer."""
    execution = session.get(Execution, execution_id)
    if execution is None or not (caller.sees_the_team or _theirs(session, execution, caller)):
        raise NotFound("no such execution")
    return execution


def may_steer(*, session: Session, execution: Execution, caller: UserRead) -> bool:
    """Whether the caller may pause, correct, terminate or complete this run."""
    return caller.is_admin or _theirs(session, execution, caller)


def _theirs(session: Session, execution: Execution, caller: UserRead) -> bool:
    if not caller.may_supervise:
        return False
    if execution.supervisor_user_id == caller.id:
        return True
    agent = session.get(Agent, execution.agent_id)
    return agent is not None and agent.supervisor_id == caller.id


def intervene(
    *,
    session: Session,
    execution_id: int,
    caller: UserRead,
    kind: str,
    now: datetime,
    text: str | None = None,
) -> InterventionRead:
    """A supervisor steers a run: the move itself is the run's state machine's."""
    try:
        command = RunCommand(kind)
    except ValueError:
        command = None
    if command not in _STEERING:
        raise InvalidInput("kind must be pause, resume, correction or terminate", field="kind")
    text = (text or "").strip() or None
    if command == RunCommand.CORRECT and not text:
        raise InvalidInput("a correction needs its text", field="text")
    if command == RunCommand.TERMINATE and not text:
        raise InvalidInput("say why the run is terminated", field="text")
    caller.require_supervisor_role("steer runs")
    execution = watchable_execution(
        session=session, execution_id=execution_id, caller=caller, lock=True
    )
    intervention = steer_locked(
        session, execution, command=command, actor=caller.as_actor(), text=text, now=now
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
    caller.require_supervisor_role("steer runs")
    execution = watchable_execution(
        session=session, execution_id=execution_id, caller=caller, lock=True
    )
    already = session.exec(
        select(Intervention).where(
            Intervention.execution_id == execution_id,
            Intervention.kind == InterventionKind.COMPLETE,
        )
    ).first()
    if already is not None:
        raise Conflict("supervision of this run was already completed")
    note = (note or "").strip()
    intervention = issue_control(
        session,
        execution,
        kind=InterventionKind.COMPLETE,
        actor=caller.as_actor(),
        text=note or None,
        rating=rating,
        now=now,
    )
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
