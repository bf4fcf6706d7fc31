"""The autonomous supervisor watching a run: events are checked as they arrive.

Rules check every batch inline (cheap); when an LLM is configured, a scheduler job also
sends the new events of each watched run in one call per run (never one per log line).
A high-risk finding pauses or terminates the run per policy, with the reason in the log.
An LLM failure changes nothing but is written into the run's log, so it is visible.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session, col, select

from models import (
    ActorType,
    Agent,
    EventKind,
    Execution,
    ExecutionEvent,
    ExecutionStatus,
    Intervention,
    InterventionKind,
    SupervisionMode,
)
from models.enums import FINISHED_EXECUTION_STATUSES
from services import llm
from services.actors import Actor
from services.audit import record_audit

_WORD = re.compile(r"[a-z0-9]+")


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
    found: set[str] = set()
    for text in texts:
        found |= set(_WORD.findall(text.lower().replace("_", " "))) & policy.high_risk_words
    return sorted(found)


def _event_text(event: Any) -> str:
    parts = [getattr(event, "message", None) or getattr(event, "error", None) or ""]
    data = getattr(event, "data", None)
    if data is not None:
        parts.append(json.dumps(data, default=str))
    return " ".join(p for p in parts if p)


def step_in(
    *,
    session: Session,
    execution: Execution,
    supervisor: Agent,
    kind: str,
    reason: str,
    now: datetime,
) -> None:
    """The autonomous supervisor pauses or terminates the run, like a human would."""
    intervention_kind = (
        InterventionKind.TERMINATE if kind == "terminate" else InterventionKind.PAUSE
    )
    if execution.status in FINISHED_EXECUTION_STATUSES:
        return
    if intervention_kind == InterventionKind.PAUSE and execution.status == ExecutionStatus.PAUSED:
        return
    before = str(execution.status)
    if intervention_kind == InterventionKind.TERMINATE:
        execution.status = ExecutionStatus.TERMINATED
        execution.finished_at = now
        execution.error = f"terminated by {supervisor.name}: {reason}"
    else:
        execution.status = ExecutionStatus.PAUSED
    session.add(
        Intervention(
            execution_id=execution.id or 0,
            agent_id=supervisor.id,
            kind=intervention_kind,
            text=reason,
            created_at=now,
        )
    )
    execution.last_seq += 1
    session.add(
        ExecutionEvent(
            execution_id=execution.id or 0,
            seq=execution.last_seq,
            kind=EventKind.CONTROL,
            level="warning",
            message=f"{supervisor.name} (AI supervisor): {intervention_kind.value} — {reason}",
            data={
                "control": intervention_kind.value,
                "text": reason,
                "by": supervisor.name,
                "autonomous": True,
            },
            created_at=now,
        )
    )
    session.add(execution)
    record_audit(
        session=session,
        actor=Actor(ActorType.AUTONOMOUS_SUPERVISOR, supervisor.id, supervisor.name),
        action=f"execution.{intervention_kind.value}",
        object_type="execution",
        object_id=execution.id,
        now=now,
        before={"status": before},
        after={"status": str(execution.status), "text": reason},
    )


def check_batch(
    *,
    session: Session,
    execution: Execution,
    events: list[Any],
    now: datetime,
    policy: MonitorPolicy,
) -> None:
    """Inline rule check of a batch the agent just reported (autonomously supervised runs only)."""
    if execution.supervision != SupervisionMode.AUTONOMOUS or execution.supervisor_agent_id is None:
        return
    findings = rule_findings([_event_text(e) for e in events], policy)
    if not findings:
        return
    supervisor = session.get(Agent, execution.supervisor_agent_id)
    if supervisor is None:
        return
    step_in(
        session=session,
        execution=execution,
        supervisor=supervisor,
        kind=policy.action,
        reason=f"high-risk terms in the run's events: {', '.join(findings)}",
        now=now,
    )


MONITOR_PROMPT = (
    "You supervise an AI agent's run. Read its newest events. Answer with JSON only: "
    '{"risk": "safe"|"medium"|"high", "action": "continue"|"pause"|"terminate", '
    '"reasons": [strings]}.'
)


def llm_review_new_events(
    *, session: Session, execution_id: int, after_seq: int, now: datetime, policy: MonitorPolicy
) -> int:
    """One LLM call over a run's events after `after_seq`; returns the last seq looked at."""
    execution = session.get(Execution, execution_id)
    if execution is None or execution.supervisor_agent_id is None:
        return after_seq
    events = session.exec(
        select(ExecutionEvent)
        .where(
            ExecutionEvent.execution_id == execution_id,
            ExecutionEvent.seq > after_seq,
            ExecutionEvent.kind != EventKind.CONTROL,
        )
        .order_by(col(ExecutionEvent.seq))
        .limit(200)
    ).all()
    if not events:
        return after_seq
    last = events[-1].seq
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
    )
    supervisor = session.get(Agent, execution.supervisor_agent_id)
    try:
        raw = llm.complete_json(
            model=policy.model,
            system=MONITOR_PROMPT,
            user=payload,
            timeout=policy.timeout_s,
            mock_response=policy.mock_response,
        )
        verdict = MonitorVerdict.model_validate(json.loads(raw))
    except (llm.LLMUnavailable, ValueError, ValidationError) as error:
        execution.last_seq += 1
        session.add(
            ExecutionEvent(
                execution_id=execution_id,
                seq=execution.last_seq,
                kind=EventKind.CONTROL,
                level="warning",
                message=(
                    f"AI supervisor could not review events {after_seq + 1}-{last}: "
                    f"{str(error)[:200]}"
                ),
                data={"monitor_error": str(error)[:500]},
                created_at=now,
            )
        )
        session.add(execution)
        return last
    if (
        supervisor is not None
        and verdict.risk == "high"
        and verdict.action in ("pause", "terminate")
    ):
        step_in(
            session=session,
            execution=execution,
            supervisor=supervisor,
            kind=verdict.action,
            reason="; ".join(verdict.reasons)[:500],
            now=now,
        )
    return last


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
