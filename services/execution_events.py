"""What an agent reports while it runs, and the controls it receives in return."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Float, String, bindparam, func, update
from sqlmodel import Session, col, select

from models import EventKind, Execution, ExecutionEvent, ExecutionStatus, SupervisionMode
from models.enums import FINISHED_EXECUTION_STATUSES
from services.agents import AgentRead
from services.changes import note_change
from services.errors import InvalidInput, NotFound
from services.executions import (
    TRANSITIONS,
    ControlState,
    RunCommand,
    acknowledge,
    append_event,
    control_state,
    end_by_agent,
    lock_agent_run,
    refusal,
    run_control_state,
    seen,
    start_if_ready,
)
from services.json_limits import JsonObject, JsonValue
from services.rows import insert_rows
from services.run_monitor import MonitorPolicy, check_batch

MAX_EVENTS_PER_BATCH = 500


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LogEvent(_Event):
    type: Literal["log"]
    level: Literal["debug", "info", "warning", "error"] = "info"
    message: str = Field(max_length=10_000)
    data: JsonObject | None = None


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
    data: JsonValue
    title: str | None = Field(default=None, max_length=200)


class CompletedEvent(_Event):
    type: Literal["completed"]
    result: JsonValue | None = None


class FailedEvent(_Event):
    type: Literal["failed"]
    error: str = Field(max_length=10_000)


AgentEvent = Annotated[
    LogEvent | ProgressEvent | OutputEvent | CompletedEvent | FailedEvent,
    Field(discriminator="type"),
]


class EventsAccepted(ControlState):
    """The answer to a report: the run's control state, how far the log now goes, and how
    many of the batch's events were stored; `detail` says why the rest were not."""

    last_seq: int
    accepted: int
    detail: str | None = None


_COMMANDS = {
    "log": RunCommand.LOG,
    "progress": RunCommand.WORK,
    "output": RunCommand.WORK,
    "completed": RunCommand.COMPLETE,
    "failed": RunCommand.FAIL,
}


def _payload(
    event: LogEvent | ProgressEvent | OutputEvent | CompletedEvent | FailedEvent,
) -> dict[str, Any]:
    return event.model_dump(exclude={"type"}, exclude_none=True)


def _check_batch(execution: Execution, events: list[AgentEvent]) -> RunCommand | None:
    """The first command of the batch the run's status does not allow (nothing is stored)."""
    status = ExecutionStatus(execution.status)
    if status == ExecutionStatus.READY:
        status = ExecutionStatus.RUNNING  # the first report starts the run
    for event in events:
        command = _COMMANDS[event.type]
        target = TRANSITIONS[status].get(command)
        if target is None:
            return command
        status = target
    return None


def _event_row(event: AgentEvent) -> dict[str, Any]:
    """The columns of the log line an event becomes (its kind, level, message and data)."""
    if isinstance(event, LogEvent):
        return {
            "kind": EventKind.LOG,
            "level": event.level,
            "message": event.message,
            "data": event.data,
        }
    if isinstance(event, ProgressEvent):
        return {"kind": EventKind.PROGRESS, "message": event.step, "data": _payload(event)}
    if isinstance(event, OutputEvent):
        return {"kind": EventKind.OUTPUT, "message": event.title, "data": _payload(event)}
    if isinstance(event, CompletedEvent):
        return {"kind": EventKind.COMPLETED, "data": _payload(event)}
    return {"kind": EventKind.FAILED, "message": event.error}


def _progress_percent(event: ProgressEvent) -> float:
    if event.percent is not None:
        return event.percent
    return round(100 * event.step_index / event.total_steps, 1)


def _store(session: Session, execution: Execution, event: AgentEvent, now: datetime) -> None:
    append_event(session, execution, now=now, **_event_row(event))
    if isinstance(event, ProgressEvent):
        execution.current_step = event.step
        execution.progress_percent = _progress_percent(event)
    elif isinstance(event, CompletedEvent):
        execution.result = event.result
        execution.progress_percent = 100.0
    elif isinstance(event, FailedEvent):
        execution.error = event.error


# The usual report: lines, progress or output from a run that is running, watched by nobody
# or by a human. One conditional UPDATE claims the sequence numbers and renews liveness;
# anything else (not running, the AI supervisor's rules, the end of the run, a wrong agent)
# takes the general path below.
_PLAIN_KINDS = (LogEvent, ProgressEvent, OutputEvent)
_CLAIM_SEQS = (
    update(Execution)
    .where(
        col(Execution.id) == bindparam("run"),
        col(Execution.agent_id) == bindparam("agent"),
        col(Execution.status) == ExecutionStatus.RUNNING,
        col(Execution.supervision) != SupervisionMode.AUTONOMOUS,
    )
    .values(
        last_seq=Execution.last_seq + bindparam("added"),
        last_seen_at=bindparam("at"),
        picked_up_at=func.coalesce(Execution.picked_up_at, bindparam("at")),
        current_step=func.coalesce(bindparam("new_step", type_=String), Execution.current_step),
        progress_percent=func.coalesce(
            bindparam("new_percent", type_=Float), Execution.progress_percent
        ),
    )
    .returning(Execution.last_seq, Execution.error)
)


def _report_to_running_run(
    session: Session, agent_id: int, execution_id: int, events: list[AgentEvent], now: datetime
) -> EventsAccepted | None:
    """Store a plain report with two statements; None when the run is not in that case."""
    if not events or not all(isinstance(event, _PLAIN_KINDS) for event in events):
        return None
    progress = [event for event in events if isinstance(event, ProgressEvent)]
    last = progress[-1] if progress else None
    claimed = (
        session.connection()
        .execute(
            _CLAIM_SEQS,
            {
                "run": execution_id,
                "agent": agent_id,
                "added": len(events),
                "at": now,
                "new_step": last.step if last else None,
                "new_percent": _progress_percent(last) if last else None,
            },
        )
        .first()
    )
    if claimed is None:
        return None
    first_seq = claimed.last_seq - len(events) + 1
    rows = [
        {**_event_row(event), "execution_id": execution_id, "seq": first_seq + i, "created_at": now}
        for i, event in enumerate(events)
    ]
    insert_rows(session, ExecutionEvent, rows)
    note_change(session, f"events:{execution_id}")
    state = run_control_state(
        session,
        execution_id=execution_id,
        status=ExecutionStatus.RUNNING,
        error=claimed.error,
        delivered_at=now,
    )
    return EventsAccepted(**state.model_dump(), last_seq=claimed.last_seq, accepted=len(events))


def record_events(
    *,
    session: Session,
    agent: AgentRead,
    execution_id: int,
    events: list[AgentEvent],
    now: datetime,
    ack: list[int] | None = None,
    monitor: MonitorPolicy | None = None,
) -> EventsAccepted:
    """Store a batch in order, under the run's lock; answer with the run's control state.

    A batch the run's status does not allow (progress while paused, anything after the end)
    is refused whole: nothing of it is stored, `detail` says why, and the route answers 409.
    Its acknowledgements still count, and so does the report as a sign of life. When the AI
    supervisor steps in on a batch that ends the run, the lines before the end are kept, the
    end is not (a paused or terminated run cannot complete).
    """
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise InvalidInput(f"at most {MAX_EVENTS_PER_BATCH} events per batch", field="events")
    for index, event in enumerate(events[:-1]):
        if isinstance(event, CompletedEvent | FailedEvent):
            raise InvalidInput(
                "completed/failed must be the last event of a batch", field=f"events.{index}"
            )
    if not ack:
        plain = _report_to_running_run(session, agent.id, execution_id, events, now)
        if plain is not None:
            return plain
    execution = lock_agent_run(session, agent_id=agent.id, execution_id=execution_id)
    acknowledge(session, execution_id=execution_id, ids=ack or [], now=now)
    if execution.status not in FINISHED_EXECUTION_STATUSES:
        seen(execution, now)  # accepted or not, the agent is there
    refused = _check_batch(execution, events)
    if refused is not None:
        return _answer(session, execution, now, accepted=0, detail=refusal(execution, refused))
    actor = agent.as_actor()
    if events:
        start_if_ready(session, execution, actor, now)
    final = events[-1] if events and isinstance(events[-1], CompletedEvent | FailedEvent) else None
    body = events[:-1] if final is not None else events
    for event in body:
        _store(session, execution, event, now)
    stepped_in = False
    if monitor is not None:
        stepped_in = check_batch(
            session=session, execution=execution, events=events, now=now, policy=monitor
        )
    accepted = len(body)
    if final is not None and not stepped_in:
        _store(session, execution, final, now)
        status = (
            ExecutionStatus.COMPLETED
            if isinstance(final, CompletedEvent)
            else ExecutionStatus.FAILED
        )
        end_by_agent(session, execution, status=status, actor=actor, now=now)
        accepted += 1
    detail = None
    if accepted < len(events):
        detail = (
            f"the AI supervisor stepped in ({execution.status}): the final event was not accepted"
        )
    return _answer(session, execution, now, accepted=accepted, detail=detail)


def _answer(
    session: Session, execution: Execution, now: datetime, *, accepted: int, detail: str | None
) -> EventsAccepted:
    session.add(execution)
    session.flush()
    state = control_state(session, execution, delivered_at=now)
    return EventsAccepted(
        **state.model_dump(), last_seq=execution.last_seq, accepted=accepted, detail=detail
    )


def poll_controls(
    *, session: Session, agent: AgentRead, execution_id: int, now: datetime, ack: list[int]
) -> ControlState:
    """The agent asks for its controls: acknowledges what it applied, renews its liveness,
    and gets the run's state with every control it has not acknowledged."""
    execution = lock_agent_run(session, agent_id=agent.id, execution_id=execution_id)
    acknowledge(session, execution_id=execution_id, ids=ack, now=now)
    if execution.status not in FINISHED_EXECUTION_STATUSES:
        seen(execution, now)
        session.add(execution)
    session.flush()
    return control_state(session, execution, delivered_at=now)


def peek_controls(*, session: Session, agent_id: int, execution_id: int) -> ControlState:
    """The run's control state, read only (a long poll's re-check between wake-ups)."""
    execution = session.get(Execution, execution_id)
    if execution is None or execution.agent_id != agent_id:
        raise NotFound("no such execution")
    return control_state(session, execution)


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
