"""Reads of runs for the screens and the API (their moves live in services/executions.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from models import Agent, Execution
from models.enums import FINISHED_EXECUTION_STATUSES
from services.errors import NotFound
from services.executions import LivenessPolicy, is_stale
from services.users import UserRead
from services.views import ExecutionRead


def read_execution(
    execution: Execution, *, now: datetime | None = None, liveness: LivenessPolicy | None = None
) -> ExecutionRead:
    """The read model; with `now` and a policy it says whether the run is stale."""
    read = ExecutionRead.model_validate(execution, from_attributes=True)
    if now is not None and liveness is not None:
        read.stale = is_stale(execution, now, liveness)
    return read


def get_execution(
    *,
    session: Session,
    execution_id: int,
    now: datetime | None = None,
    liveness: LivenessPolicy | None = None,
) -> ExecutionRead:
    execution = session.get(Execution, execution_id)
    if execution is None:
        raise NotFound("no such execution")
    return read_execution(execution, now=now, liveness=liveness)


def watched_by(user_id: int) -> Any:
    """A WHERE clause: runs this person watches, and runs of the agents they supervise (a
    delegate may watch one in their place: the supervisor keeps sight of it and a say)."""
    return (Execution.supervisor_user_id == user_id) | col(Execution.agent_id).in_(
        select(Agent.id).where(Agent.supervisor_id == user_id)
    )


def list_executions(
    *,
    session: Session,
    supervisor_user_id: int | None = None,
    agent_id: int | None = None,
    active_only: bool = False,
    finished_only: bool = False,
    limit: int = 100,
    now: datetime | None = None,
    liveness: LivenessPolicy | None = None,
) -> list[ExecutionRead]:
    """Newest first; `active_only` leaves out completed, failed and terminated runs."""
    query = select(Execution)
    if supervisor_user_id is not None:
        query = query.where(watched_by(supervisor_user_id))
    if agent_id is not None:
        query = query.where(Execution.agent_id == agent_id)
    if active_only:
        query = query.where(
            col(Execution.status).not_in([s.value for s in FINISHED_EXECUTION_STATUSES])
        )
    if finished_only:
        query = query.where(
            col(Execution.status).in_([s.value for s in FINISHED_EXECUTION_STATUSES])
        )
    rows = session.exec(query.order_by(col(Execution.id).desc()).limit(limit)).all()
    return [read_execution(row, now=now, liveness=liveness) for row in rows]


def watched_runs_scope(caller: UserRead) -> int | None:
    """Whose runs `caller` sees in run lists: everyone's for admins and viewers (None; a
    viewer reads them only), their own for supervisors, nobody's (-1) for anyone else."""
    if caller.sees_the_team:
        return None
    return caller.id if caller.may_supervise else -1
