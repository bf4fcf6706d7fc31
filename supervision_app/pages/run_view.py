"""What the run page shows, computed from the run and its events: pure functions, tested
without a browser (tests/pages/test_run_view.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from services import execution_events
from services.executions import is_stale
from services.policy import LivenessPolicy
from supervision_app.components.timefmt import clock_time, local_clock, span

MAX_VISIBLE_LINES = 1000
MAX_TABLE_ROWS = 500
ENDED = ("completed", "failed", "terminated", "lost")
STEPPABLE = ("running", "executing", "paused", "pending", "ready")


@dataclass
class LogLine:
    seq: int
    at: str
    level: str
    message: str
    control: bool


@dataclass
class Step:
    name: str
    state: str  # done, current, todo, stopped (the run ended on it)


@dataclass
class TableData:
    columns: list[str]
    rows: list[list[str]]


@dataclass
class OutputView:
    kind: str = ""
    title: str = ""
    text: str = ""
    table: TableData = field(default_factory=lambda: TableData(columns=[], rows=[]))
    chart: list[dict[str, Any]] = field(default_factory=list)
    series: list[str] = field(default_factory=list)
    chart_type: str = "line"


def log_line(event: execution_events.EventRead, zone: tzinfo = UTC) -> dict[str, Any] | None:
    """The event as a line of the log, or None for events that are not lines (progress…).
    Lines show the viewer's clock to the second (the run's header says the day and zone)."""
    at = local_clock(event.created_at, zone)
    if event.kind == "log":
        message = event.message or ""
        if event.data:
            message += "  " + json.dumps(event.data, default=str)
        return {
            "seq": event.seq,
            "at": at,
            "level": event.level or "info",
            "message": message,
            "control": False,
        }
    if event.kind == "control":
        return {
            "seq": event.seq,
            "at": at,
            "level": event.level or "info",
            "message": f"⟫ {event.message}",
            "control": True,
        }
    if event.kind in ("completed", "failed"):
        done = event.kind == "completed"
        text = "run completed" if done else f"run failed: {event.message}"
        return {
            "seq": event.seq,
            "at": at,
            "level": "info" if done else "error",
            "message": f"■ {text}",
            "control": True,
        }
    return None


def step_names_after(names: list[str], event: execution_events.EventRead) -> list[str]:
    """The run's named steps once this event is counted: a progress event may list them all,
    or name the one it is at."""
    if event.kind != "progress" or not isinstance(event.data, dict):
        return names
    listed = event.data.get("steps")
    if listed:
        return [str(name) for name in listed]
    if event.message and event.message not in names:
        return [*names, event.message]
    return names


def steps(names: list[str], current: str, status: str) -> list[Step]:
    """Each step done, current or to do. A run that ended otherwise than completed shows the
    step it ended on as stopped: nothing is in progress any more."""
    names = names or ([current] if current else [])
    index = names.index(current) if current in names else -1
    if status == "completed":
        return [Step(name=name, state="done") for name in names]
    at_current = "current" if status in STEPPABLE else "stopped"

    def state(i: int) -> str:
        return "done" if i < index else at_current if i == index else "todo"

    return [Step(name=name, state=state(i)) for i, name in enumerate(names)]


def output_view(payload: dict[str, Any]) -> OutputView:
    """An output event's payload as the output card shows it (text, JSON, table or chart)."""
    kind, content, title = payload.get("kind", "text"), payload.get("data"), payload.get("title")
    view = OutputView(kind=kind, title=title or "")
    if kind == "text":
        view.text = str(content)
    elif kind == "table" and isinstance(content, dict):
        view.table = TableData(
            columns=[str(c) for c in content.get("columns", [])],
            rows=[[str(cell) for cell in row] for row in content.get("rows", [])][:MAX_TABLE_ROWS],
        )
    elif kind == "chart" and isinstance(content, dict):
        x, series = content.get("x", []), content.get("series", {})
        view.chart_type = "bar" if content.get("type") == "bar" else "line"
        view.series = list(series)[:5]
        view.chart = [
            {"x": str(label), **{n: values[i] for n, values in series.items() if i < len(values)}}
            for i, label in enumerate(x)
        ]
    else:
        view.kind, view.text = "json", json.dumps(content, indent=2, default=str)
    return view


def visible_lines(
    lines: list[dict[str, Any]], levels: list[str], search: str, limit: int = MAX_VISIBLE_LINES
) -> list[LogLine]:
    """The newest `limit` lines at the chosen levels that contain the search (any case);
    control lines (what supervisors said, how the run ended) always show."""
    needle, wanted = search.strip().lower(), set(levels)
    matching = [
        line
        for line in lines
        if (line["control"] or line["level"] in wanted)
        and (not needle or needle in line["message"].lower())
    ]
    return [LogLine(**line) for line in matching[-limit:]]


def snapshot(
    execution: Any, now: datetime, liveness: LivenessPolicy, zone: tzinfo = UTC
) -> dict[str, Any]:
    """The run's header fields: status, liveness (how long since the agent was heard), when it
    started, progress, and why it ended when it did not complete."""
    heard = execution.last_seen_at
    silent = (now - heard).total_seconds() if heard else 0
    status = str(execution.status)
    return {
        "action": execution.action,
        "parameters_json": json.dumps(execution.parameters, indent=2, default=str),
        "status": status,
        "stale": is_stale(execution, now, liveness),
        "silent_for": span(silent),
        "last_heard": f"{clock_time(heard, now, zone)} ({span(silent)} ago)" if heard else "never",
        "ended_because": (execution.error or "")
        if status in ("lost", "failed", "terminated")
        else "",
        "supervision": str(execution.supervision),
        "started": clock_time(execution.started_at or execution.created_at, now, zone),
        "percent": int(execution.progress_percent or 0),
        "current_step": execution.current_step or "",
    }
