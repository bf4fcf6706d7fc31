"""What an agent reports while it runs, and the controls it receives in return."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from models import (
    EventKind,
    Execution,
    ExecutionEvent,
    ExecutionStatus,
    Intervention,
    InterventionKind,
)
from models.enums import FINISHED_EXECUTION_STATUSES
from services.agents import AgentRead
from services.audit import record_audit
from services.errors import Conflict, InvalidInput, NotFound
from services.queue import renew_lease, settle_queue_entry_for
from services.run_monitor import MonitorPolicy, check_batch

MAX_EVENTS_PER_BATCH = 500


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LogEvent(_Event):
    type: Literal["log"]
    level: Literal["debug", "info", "warning", "error"] = "info"
    message: str = Field(max_length=10_000)
    data: dict[str, Any] | None = None


class ProgressEvent(_Event):
    type: Literal["progress"]
    step: str = Field(max_length=200)
    step_index: int = Field(ge=0)
    total_steps: int = Field(ge=1)
    percent: float | None = Field(default=None, ge=0, le=100)
    steps: list[str] | None = Field(default=None, max_length=100)


class OutputEvent(_Event):
    type: Literal["output"]
    kind: Literal["json", "text", "table", "chart"]
    data: Any
    title: str | None = Field(default=None, max_length=200)


class CompletedEvent(_Event):
    type: Literal["completed"]
    result: Any | None = None


class FailedEvent(_Event):
    type: Literal["failed"]
    error: str = Field(max_length=10_000)


AgentEvent = Annotated[
    LogEvent | ProgressEvent | OutputEvent | CompletedEvent | FailedEvent,
    Field(discriminator="type"),
]


class Control(BaseModel):
    """A supervisor's instruction for the agent: pause, resume, correction or terminate."""

    id: int
    type: Literal["pause", "resume", "correction", "terminate"]
    text: str | None
    at: datetime


class EventsAccepted(BaseModel):
    execution_id: int
    status: ExecutionStatus
    last_seq: int
    controls: list[Control]


def _agent_execution(session: Session, agent: AgentRead, execution_id: int) -> Execution:
    execution = session.get(Execution, execution_id)
    if execution is None or execution.agent_id != agent.id:
        raise NotFound("no such execution")
    return execution


def take_controls(*, session: Session, execution_id: int, now: datetime) -> list[Control]:
    """Hand over undelivered controls, oldest first, marking them delivered."""
    pending = session.exec(
        select(Intervention)
        .where(
            Intervention.execution_id == execution_id,
            col(Intervention.delivered_at).is_(None),
            Intervention.kind != InterventionKind.COMPLETE,
        )
        .order_by(col(Intervention.id))
    ).all()
    controls = []
    for intervention in pending:
        intervention.delivered_at = now
        session.add(intervention)
        controls.append(
            Control(
                id=intervention.id or 0,
                type=intervention.kind,
                text=intervention.text,
                at=intervention.created_at,
            )
        )
    return controls


def _payload(
    event: LogEvent | ProgressEvent | OutputEvent | CompletedEvent | FailedEvent,
) -> dict[str, Any]:
    return event.model_dump(exclude={"type"}, exclude_none=True)


def record_events(
    *,
    session: Session,
    agent: AgentRead,
    execution_id: int,
    events: list[AgentEvent],
    now: datetime,
    queue_lease: timedelta = timedelta(minutes=5),
    monitor: MonitorPolicy | None = None,
) -> EventsAccepted:
    """Store a batch in order with per-execution sequence numbers; answer with pending controls."""
    execution = _agent_execution(session, agent, execution_id)
    if execution.status in FINISHED_EXECUTION_STATUSES:
        raise Conflict(f"execution {execution_id} is {execution.status}; it accepts no more events")
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise InvalidInput(f"at most {MAX_EVENTS_PER_BATCH} events per batch", field="events")
    for index, event in enumerate(events[:-1]):
        if isinstance(event, CompletedEvent | FailedEvent):
            raise InvalidInput(
                "completed/failed must be the last event of a batch", field=f"events.{index}"
            )
    if execution.status == ExecutionStatus.READY and events:
        execution.status = ExecutionStatus.RUNNING
        execution.started_at = execution.picked_up_at = now
        record_audit(
            session=session,
            actor=agent.as_actor(),
            action="execution.started",
            object_type="execution",
            object_id=execution.id,
            now=now,
        )
    for event in events:
        execution.last_seq += 1
        payload = _payload(event)
        row = ExecutionEvent(
            execution_id=execution.id or 0,
            seq=execution.last_seq,
            kind=EventKind(event.type),
            created_at=now,
        )
        if isinstance(event, LogEvent):
            row.level, row.message, row.data = event.level, event.message, event.data
        elif isinstance(event, ProgressEvent):
            row.message = event.step
            row.data = payload
            execution.current_step = event.step
            execution.progress_percent = (
                event.percent
                if event.percent is not None
                else round(100 * event.step_index / event.total_steps, 1)
            )
        elif isinstance(event, OutputEvent):
            row.data = payload
            row.message = event.title
        elif isinstance(event, CompletedEvent):
            row.data = payload
            execution.status = ExecutionStatus.COMPLETED
            execution.result = event.result
            execution.progress_percent = 100.0
        else:
            row.message = event.error
            execution.status = ExecutionStatus.FAILED
            execution.error = event.error
        session.add(row)
    if monitor is not None and execution.status not in FINISHED_EXECUTION_STATUSES:
        check_batch(session=session, execution=execution, events=events, now=now, policy=monitor)
    if execution.status in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED):
        execution.finished_at = now
        record_audit(
            session=session,
            actor=agent.as_actor(),
            action=f"execution.{execution.status}",
            object_type="execution",
            object_id=execution.id,
            now=now,
            after={"status": str(execution.status), "error": execution.error},
        )
        settle_queue_entry_for(session=session, execution=execution, now=now)
    else:
        renew_lease(session=session, execution=execution, now=now, policy_lease=queue_lease)
    session.add(execution)
    session.flush()
    controls = take_controls(session=session, execution_id=execution.id or 0, now=now)
    return EventsAccepted(
        execution_id=execution.id or 0,
        status=execution.status,
        last_seq=execution.last_seq,
        controls=controls,
    )


def poll_controls(
    *, session: Session, agent: AgentRead, execution_id: int, now: datetime
) -> list[Control]:
    execution = _agent_execution(session, agent, execution_id)
    controls = take_controls(session=session, execution_id=execution.id or 0, now=now)
    if not controls and execution.status == ExecutionStatus.TERMINATED:
        # Terminated with nothing left to deliver: keep telling the agent to stop.
        return [
            Control(id=0, type="terminate", text=execution.error, at=execution.finished_at or now)
        ]
    return controls


class EventRead(BaseModel):
    id: int
    execution_id: int
    seq: int
    kind: EventKind
    level: str | None
    message: str | None
    data: Any | None
    created_at: datetime


def list_events(
    *, session: Session, execution_id: int, after_seq: int = 0, limit: int = 1000
) -> list[EventRead]:
    rows = session.exec(
        select(ExecutionEvent)
        .where(ExecutionEvent.execution_id == execution_id, ExecutionEvent.seq > after_seq)
        .order_by(col(ExecutionEvent.seq))
        .limit(limit)
    ).all()
    return [EventRead.model_validate(r, from_attributes=True) for r in rows]
