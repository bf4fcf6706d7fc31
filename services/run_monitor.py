"""The autonomous supervisor watching a run: events are checked as they arrive.

Rules check every batch inline (cheap); when an LLM is configured, a scheduler job also
sends the new events of each watched run in one call per run (never one per log line), as
claim → act → apply: the batch is claimed by moving the run's `monitored_seq` mark with a
conditional update (one worker looks at it, at most once), the model is called with no
transaction open, and the verdict is applied under the run's lock.
A high-risk finding pauses or terminates the run per policy, with the reason in the log.
An LLM failure changes nothing but is written into the run's log, so it is visible.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import update
from sqlmodel import Session, col, select

from models import (
    ActorType,
    Agent,
    EventKind,
    Execution,
    ExecutionEvent,
    ExecutionStatus,
    SupervisionMode,
)
from services import llm
from services.actors import Actor
from services.executions import RunCommand, append_event, lock_run, next_status, steer_locked
from services.risk_analysis import watched_terms


@dataclass(frozen=True)
class MonitorPolicy:
    high_risk_words: frozenset[str]
    action: str  # pause | terminate
    model: str = ""
    timeout_s: float = 20.0
    mock_response: str | None = None


class MonitorVerdict(BaseModel):
    risk: Literal["safe", "medium", "high"]
    action: Literal["continue", "pause", "terminate"]
    reasons: list[str] = Field(min_length=1)


def rule_findings(texts: list[str], policy: MonitorPolicy) -> list[str]:
    """The watched words (in any form) and commands found in these texts."""
    return watched_terms(texts, policy.high_risk_words)


# Fields whose values are the protocol's own words or numbers, not the agent's text.
_NOT_TEXT = {"type", "level", "kind", "step_index", "total_steps", "percent"}


def _words_of(value: Any) -> Iterator[str]:
    """Every text in a value, nested keys included, as it was written (JSON would turn a line
    break into "\\n" and glue the next word to an "n")."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _words_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _words_of(item)
    elif value is not None:
        yield str(value)


def _event_text(event: Any) -> str:
    """Everything an event says: a reported event's every value (a progress step, an output's
    title, a completion's result; not its field names), or a stored event's message and data."""
    if isinstance(event, BaseModel):
        values = event.model_dump(exclude=_NOT_TEXT, exclude_none=True).values()
    else:
        values = [getattr(event, "message", None), getattr(event, "data", None)]
    return " ".join(_words_of(list(values)))


def step_in(
    *,
    session: Session,
    execution: Execution,
    supervisor: Agent,
    kind: str,
    reason: str,
    now: datetime,
) -> bool:
    """The autonomous supervisor pauses or terminates the run (locked by the caller), like a
    human would; False when the run's state leaves nothing to do."""
    command = RunCommand.TERMINATE if kind == "terminate" else RunCommand.PAUSE
    if next_status(execution, command) is None:
        return False  # already paused (its agent may only log or give up) or ended
    steer_locked(
        session,
        execution,
        command=command,
        actor=Actor(ActorType.AUTONOMOUS_SUPERVISOR, supervisor.id, supervisor.name),
        text=reason,
        now=now,
    )
    return True


def check_batch(
    *,
    session: Session,
    execution: Execution,
    events: list[Any],
    now: datetime,
    policy: MonitorPolicy,
) -> bool:
    """Inline rule check of every batch an autonomously supervised run reports, the one that
    ends it included; True when the run is paused or terminated because of it."""
    if execution.supervision != SupervisionMode.AUTONOMOUS or execution.supervisor_agent_id is None:
        return False
    findings = rule_findings([_event_text(e) for e in events], policy)
    if not findings:
        return False
    supervisor = session.get(Agent, execution.supervisor_agent_id)
    if supervisor is None:
        return False
    return step_in(
        session=session,
        execution=execution,
        supervisor=supervisor,
        kind=policy.action,
        reason=f"high-risk terms in the run's events: {', '.join(findings)}",
        now=now,
    )


MONITOR_PROMPT = (
    "You supervise an AI agent's run. Read its newest events. "
    + llm.UNTRUSTED_NOTE
    + " Answer with JSON only: "
    '{"risk": "safe"|"medium"|"high", "action": "continue"|"pause"|"terminate", '
    '"reasons": [strings]}.'
)


@dataclass(frozen=True)
class MonitorBatch:
    """New events of a watched run, claimed for one LLM look (nothing bound to a session)."""

    execution_id: int
    after_seq: int
    last_seq: int
    supervisor_id: int
    supervisor_name: str
    payload: str


def claim_batch(*, session: Session, execution_id: int) -> MonitorBatch | None:
    """Claim a run's events since the last look with a conditional update of its mark, so of
    several workers (or processes) one looks at them; None when there is nothing new."""
    execution = session.get(Execution, execution_id)
    if execution is None or execution.supervisor_agent_id is None:
        return None
    after = execution.monitored_seq
    events = session.exec(
        select(ExecutionEvent)
        .where(
            ExecutionEvent.execution_id == execution_id,
            ExecutionEvent.seq > after,
            ExecutionEvent.kind != EventKind.CONTROL,
        )
        .order_by(col(ExecutionEvent.seq))
        .limit(200)
    ).all()
    if not events:
        return None
    last = events[-1].seq
    won = session.execute(
        update(Execution)
        .where(col(Execution.id) == execution_id, Execution.monitored_seq == after)
        .values(monitored_seq=last)
    ).rowcount
    supervisor = session.get(Agent, execution.supervisor_agent_id)
    if not won or supervisor is None:
        return None
    payload = json.dumps(
        {
            "action": execution.action,
            "parameters": execution.parameters,
            "events": [
                {"seq": e.seq, "kind": e.kind, "level": e.level, "text": _event_text(e)[:500]}
                for e in events
            ],
        },
        default=str,
        ensure_ascii=True,
    )
    return MonitorBatch(
        execution_id=execution_id,
        after_seq=after,
        last_seq=last,
        supervisor_id=supervisor.id or 0,
        supervisor_name=supervisor.name,
        payload=payload,
    )


def judge_batch(batch: MonitorBatch, policy: MonitorPolicy) -> MonitorVerdict | str:
    """The model's verdict on a batch, or why there is none. Takes no session: it runs with
    no transaction open and no lock held."""
    try:
        raw = llm.complete_json(
            model=policy.model,
            system=MONITOR_PROMPT,
            user=llm.quote_untrusted("RUN EVENTS", batch.payload),
            timeout=policy.timeout_s,
            mock_response=policy.mock_response,
        )
        return MonitorVerdict.model_validate(json.loads(raw))
    except (llm.LLMUnavailable, ValueError, ValidationError) as error:
        return str(error)


def apply_verdict(
    *, session: Session, batch: MonitorBatch, verdict: MonitorVerdict | str, now: datetime
) -> None:
    """Step in on a high-risk verdict; a failed look is written into the run's log."""
    execution = lock_run(session, batch.execution_id)
    if isinstance(verdict, str):
        append_event(
            session,
            execution,
            kind=EventKind.CONTROL,
            now=now,
            level="warning",
            message=(
                f"AI supervisor could not review events {batch.after_seq + 1}-{batch.last_seq}: "
                f"{verdict[:200]}"
            ),
            data={"monitor_error": verdict[:500]},
        )
        return
    if verdict.risk == "high" and verdict.action in ("pause", "terminate"):
        supervisor = session.get(Agent, batch.supervisor_id)
        if supervisor is not None:
            step_in(
                session=session,
                execution=execution,
                supervisor=supervisor,
                kind=verdict.action,
                reason="; ".join(verdict.reasons)[:500],
                now=now,
            )


def watched_runs(*, session: Session) -> list[int]:
    return list(
        session.exec(
            select(Execution.id).where(
                Execution.supervision == SupervisionMode.AUTONOMOUS,
                col(Execution.status).in_(
                    [ExecutionStatus.RUNNING.value, ExecutionStatus.READY.value]
                ),
            )
        ).all()
    )
