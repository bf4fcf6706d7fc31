"""Executions: runs of an agent's action, and the reads the screens need."""

from __future__ import annotations

from sqlmodel import Session, col, select

from models import Execution
from models.enums import FINISHED_EXECUTION_STATUSES
from services.errors import NotFound
from services.views import ExecutionRead


def read_execution(execution: Execution) -> ExecutionRead:
    return ExecutionRead.model_validate(execution, from_attributes=True)


def get_execution(*, session: Session, execution_id: int) -> ExecutionRead:
    execution = session.get(Execution, execution_id)
    if execution is None:
        raise NotFound("no such execution")
    return read_execution(execution)


def list_executions(
    *,
    session: Session,
    supervisor_user_id: int | None = None,
    agent_id: int | None = None,
    active_only: bool = False,
    finished_only: bool = False,
    limit: int = 100,
) -> list[ExecutionRead]:
    """Newest first; `active_only` leaves out completed, failed and terminated runs."""
    query = select(Execution)
    if supervisor_user_id is not None:
        query = query.where(Execution.supervisor_user_id == supervisor_user_id)
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
    return [read_execution(row) for row in rows]
