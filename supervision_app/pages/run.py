"""One run, live: named progress steps, the log viewer, the output preview, interventions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import reflex as rx

from services import agents as agent_service
from services import execution_events, interventions
from services import users as user_service
from services.clock import utcnow
from services.errors import DomainError
from services.executions import is_stale
from services.policy import liveness_policy
from supervision_app.components.badges import stale_badge, status_badge
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.timefmt import span
from supervision_app.states import data
from supervision_app.states.auth import AuthState

MAX_VISIBLE_LINES = 1000
LEVELS = ["debug", "info", "warning", "error"]


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
    state: str  # done, current, todo


@dataclass
class TableData:
    columns: list[str]
    rows: list[list[str]]


def _line(event: execution_events.EventRead) -> dict[str, Any] | None:
    if event.kind == "log":
        message = event.message or ""
        if event.data:
            message += "  " + json.dumps(event.data, default=str)
        return {
            "seq": event.seq,
            "at": event.created_at.strftime("%H:%M:%S"),
            "level": event.level or "info",
            "message": message,
            "control": False,
        }
    if event.kind == "control":
        return {
            "seq": event.seq,
            "at": event.created_at.strftime("%H:%M:%S"),
            "level": event.level or "info",
            "message": f"⟫ {event.message}",
            "control": True,
        }
    if event.kind in ("completed", "failed"):
        text = "run completed" if event.kind == "completed" else f"run failed: {event.message}"
        return {
            "seq": event.seq,
            "at": event.created_at.strftime("%H:%M:%S"),
            "level": "info" if event.kind == "completed" else "error",
            "message": f"■ {text}",
            "control": True,
        }
    return None


class RunState(rx.State):
    execution_id: int = 0
    found: bool = False
    agent_name: str = ""
    agent_id: int = 0
    action: str = ""
    parameters_json: str = ""
    status: str = ""
    stale: bool = False
    silent_for: str = ""
    ended_because: str = ""
    supervisor: str = ""
    supervision: str = ""
    started: str = ""
    percent: int = 0
    current_step: str = ""
    steps: list[Step] = []
    visible: list[LogLine] = []
    total_lines: int = 0
    new_while_paused: int = 0
    level_filter: list[str] = ["info", "warning", "error"]
    search: str = ""
    following: bool = True
    output_kind: str = ""
    output_title: str = ""
    output_text: str = ""
    output_table: TableData = TableData(columns=[], rows=[])
    output_chart: list[dict[str, Any]] = []
    output_series: list[str] = []
    output_chart_type: str = "line"
    correction: str = ""
    terminate_reason: str = ""
    complete_note: str = ""
    complete_rating: str = "5"
    supervision_completed: bool = False
    _lines: list[dict[str, Any]] = []
    _last_seq: int = 0
    _step_names: list[str] = []

    @rx.var
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "terminated", "lost")

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        try:
            execution_id = int(self.router.page.params.get("execution_id", "0"))
        except ValueError:
            execution_id = 0
        if execution_id != self.execution_id:
            self._reset(execution_id)
        after = self._last_seq

        def fetch(session):  # noqa: ANN001, ANN202
            execution = interventions.watchable_execution(
                session=session, execution_id=execution_id, caller=user
            )
            agent = agent_service.get_agent(session=session, agent_id=execution.agent_id)
            supervisor = ""
            if execution.supervision == "none":
                supervisor = ""
            elif execution.supervisor_agent_id:
                supervisor = agent_service.get_agent(
                    session=session, agent_id=execution.supervisor_agent_id
                ).name
            elif execution.supervisor_user_id:
                supervisor = user_service.get_user(
                    session=session, user_id=execution.supervisor_user_id
                ).display_name
            events = execution_events.list_events(
                session=session, execution_id=execution_id, after_seq=after, limit=20000
            )
            done = any(
                i.kind == "complete"
                for i in interventions.list_interventions(
                    session=session, execution_id=execution_id
                )
            )
            snapshot = execution_events_snapshot(execution, utcnow(), liveness_policy())
            return snapshot, agent, supervisor, events, done

        try:
            snapshot, agent, supervisor, events, done = await data.read(fetch)
        except DomainError:
            self.found = False
            return
        self.found = True
        self.agent_name, self.agent_id = agent.name, agent.id
        self.supervisor = supervisor
        self.supervision_completed = done
        for key, value in snapshot.items():
            setattr(self, key, value)
        self._ingest(events)
        if events and self.following:
            # Follow the tail: keep the newest line in view inside the log box.
            return rx.call_script(
                "document.getElementById('log-end')?.scrollIntoView({block: 'nearest'})"
            )

    def _reset(self, execution_id: int) -> None:
        self.execution_id = execution_id
        self._lines, self._last_seq, self._step_names = [], 0, []
        self.visible, self.steps, self.total_lines, self.new_while_paused = [], [], 0, 0
        self.output_kind = ""
        self.following = True

    def _ingest(self, events: list[execution_events.EventRead]) -> None:
        added = 0
        for event in events:
            self._last_seq = max(self._last_seq, event.seq)
            line = _line(event)
            if line is not None:
                self._lines.append(line)
                added += 1
            if event.kind == "progress" and isinstance(event.data, dict):
                names = event.data.get("steps")
                if names:
                    self._step_names = list(names)
                elif event.message and event.message not in self._step_names:
                    self._step_names.append(event.message)
            if event.kind == "output" and isinstance(event.data, dict):
                self._show_output(event.data)
        self.total_lines = len(self._lines)
        self._steps()
        if self.following:
            self._filter()
        else:
            self.new_while_paused += added

    def _steps(self) -> None:
        current = self.current_step
        names = self._step_names or ([current] if current else [])
        index = names.index(current) if current in names else -1
        finished_ok = self.status == "completed"
        self.steps = [
            Step(
                name=name,
                state="done" if finished_ok or i < index else "current" if i == index else "todo",
            )
            for i, name in enumerate(names)
        ]

    def _show_output(self, payload: dict[str, Any]) -> None:
        kind, content = payload.get("kind", "text"), payload.get("data")
        self.output_kind, self.output_title = kind, payload.get("title") or ""
        if kind == "text":
            self.output_text = str(content)
        elif kind == "json":
            self.output_text = json.dumps(content, indent=2, default=str)
        elif kind == "table" and isinstance(content, dict):
            columns = [str(c) for c in content.get("columns", [])]
            rows = [[str(cell) for cell in row] for row in content.get("rows", [])][:500]
            self.output_table = TableData(columns=columns, rows=rows)
        elif kind == "chart" and isinstance(content, dict):
            x = content.get("x", [])
            series = content.get("series", {})
            self.output_chart_type = "bar" if content.get("type") == "bar" else "line"
            self.output_series = list(series)[:5]
            self.output_chart = [
                {
                    "x": str(label),
                    **{name: values[i] for name, values in series.items() if i < len(values)},
                }
                for i, label in enumerate(x)
            ]
        else:
            self.output_kind, self.output_text = "json", json.dumps(content, indent=2, default=str)

    def _filter(self) -> None:
        needle = self.search.strip().lower()
        levels = set(self.level_filter)
        matching = [
            line
            for line in self._lines
            if (line["control"] or line["level"] in levels)
            and (not needle or needle in line["message"].lower())
        ]
        self.visible = [LogLine(**line) for line in matching[-MAX_VISIBLE_LINES:]]
        self.new_while_paused = 0

    @rx.event
    def toggle_level(self, level: str):
        self.level_filter = (
            [lv for lv in self.level_filter if lv != level]
            if level in self.level_filter
            else [*self.level_filter, level]
        )
        self._filter()

    @rx.event
    def set_search(self, value: str):
        self.search = value
        self._filter()

    @rx.event
    def toggle_follow(self):
        self.following = not self.following
        if self.following:
            self._filter()
            return rx.scroll_to("log-end")

    @rx.event
    def set_correction(self, value: str):
        self.correction = value

    @rx.event
    def set_terminate_reason(self, value: str):
        self.terminate_reason = value

    @rx.event
    def set_complete_note(self, value: str):
        self.complete_note = value

    @rx.event
    def set_complete_rating(self, value: str):
        self.complete_rating = value

    async def _intervene(self, kind: str, text: str | None, done: str):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return rx.toast.error("Sign in again.")
        execution_id = self.execution_id
        try:
            await data.write(
                lambda session: interventions.intervene(
                    session=session,
                    execution_id=execution_id,
                    caller=user,
                    kind=kind,
                    text=text,
                    now=utcnow(),
                )
            )
        except DomainError as error:
            return rx.toast.error(f"Could not {kind}: {error.message}")
        _publish(execution_id)
        await self.load()
        return rx.toast.success(done)

    @rx.event
    async def pause(self):
        return await self._intervene(
            "pause",
            None,
            "Paused: the agent's progress and completion are held until you resume.",
        )

    @rx.event
    async def resume(self):
        return await self._intervene("resume", None, "Resumed.")

    @rx.event
    async def send_correction(self):
        if not self.correction.strip():
            return rx.toast.error("Write the correction first.")
        text, self.correction = self.correction, ""
        return await self._intervene("correction", text, "Correction sent to the agent.")

    @rx.event
    async def terminate(self):
        if not self.terminate_reason.strip():
            return rx.toast.error("Say why you terminate the run.")
        text, self.terminate_reason = self.terminate_reason, ""
        return await self._intervene("terminate", text, "Run terminated.")

    @rx.event
    async def complete_session(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return rx.toast.error("Sign in again.")
        execution_id, note, rating = (
            self.execution_id,
            self.complete_note,
            int(self.complete_rating),
        )
        try:
            await data.write(
                lambda session: interventions.complete_supervision(
                    session=session,
                    execution_id=execution_id,
                    caller=user,
                    now=utcnow(),
                    note=note,
                    rating=rating,
                )
            )
        except DomainError as error:
            return rx.toast.error(error.message)
        await self.load()
        return rx.toast.success("Supervision completed.")


def execution_events_snapshot(execution, now, liveness) -> dict[str, Any]:  # noqa: ANN001
    silent = (now - execution.last_seen_at).total_seconds() if execution.last_seen_at else 0
    lost_or_failed = str(execution.status) in ("lost", "failed", "terminated")
    return {
        "action": execution.action,
        "parameters_json": json.dumps(execution.parameters, indent=2, default=str),
        "status": str(execution.status),
        "stale": is_stale(execution, now, liveness),
        "silent_for": span(silent),
        "ended_because": (execution.error or "") if lost_or_failed else "",
        "supervision": str(execution.supervision),
        "started": (execution.started_at or execution.created_at).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "percent": int(execution.progress_percent or 0),
        "current_step": execution.current_step or "",
    }


def _publish(execution_id: int) -> None:
    from supervision_app.api.live import hub

    hub.publish(execution_id)


def _progress() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Progress", weight="medium"),
                rx.spacer(),
                rx.text(RunState.percent, "%", size="2"),
                width="100%",
            ),
            rx.progress(value=RunState.percent, width="100%"),
            rx.flex(
                rx.foreach(
                    RunState.steps,
                    lambda step: rx.badge(
                        rx.match(
                            step.state,
                            ("done", rx.icon("check", size=12)),
                            ("current", rx.icon("loader", size=12)),
                            rx.icon("circle", size=12),
                        ),
                        step.name,
                        color_scheme=rx.match(
                            step.state, ("done", "green"), ("current", "blue"), "gray"
                        ),
                        variant=rx.cond(step.state == "current", "solid", "soft"),
                        data_testid="step-" + step.state,
                    ),
                ),
                spacing="2",
                wrap="wrap",
            ),
            width="100%",
        ),
        width="100%",
    )


def _log_line(line: LogLine) -> rx.Component:
    return rx.hstack(
        rx.text(line.at, color_scheme="gray", flex_shrink="0"),
        rx.text(
            line.level.upper(),
            width="5.5em",
            flex_shrink="0",
            color=rx.match(
                line.level,
                ("error", rx.color("red", 11)),
                ("warning", rx.color("amber", 11)),
                ("debug", rx.color("gray", 9)),
                rx.color("blue", 11),
            ),
        ),
        rx.text(
            line.message,
            white_space="pre-wrap",
            word_break="break-word",
            weight=rx.cond(line.control, "bold", "regular"),
        ),
        spacing="2",
        font_family="monospace",
        font_size="12px",
        data_testid="log-line",
    )


def _log_viewer() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Log", weight="medium"),
                *[
                    rx.checkbox(
                        level,
                        checked=RunState.level_filter.contains(level),
                        on_change=lambda _v, lv=level: RunState.toggle_level(lv),
                        size="1",
                    )
                    for level in LEVELS
                ],
                rx.input(
                    placeholder="Search the log",
                    value=RunState.search,
                    on_change=RunState.set_search.debounce(250),
                    size="1",
                    aria_label="Search the log",
                ),
                rx.spacer(),
                rx.text(
                    RunState.visible.length(),
                    " of ",
                    RunState.total_lines,
                    " lines",
                    size="1",
                    color_scheme="gray",
                ),
                rx.button(
                    rx.cond(
                        RunState.following, rx.icon("pause", size=12), rx.icon("play", size=12)
                    ),
                    rx.cond(
                        RunState.following,
                        "Pause to read",
                        rx.cond(
                            RunState.new_while_paused > 0,
                            "Follow (" + RunState.new_while_paused.to_string() + " new)",
                            "Follow tail",
                        ),
                    ),
                    size="1",
                    variant="soft",
                    on_click=RunState.toggle_follow,
                ),
                width="100%",
                align="center",
                wrap="wrap",
            ),
            rx.scroll_area(
                rx.vstack(
                    rx.foreach(RunState.visible, _log_line),
                    rx.box(id="log-end"),
                    spacing="0",
                    width="100%",
                ),
                type="auto",
                scrollbars="vertical",
                height="24em",
                id="log-viewer",
            ),
            width="100%",
        ),
        width="100%",
    )


def _chart(kind: str) -> rx.Component:
    """A line or bar chart of the output's series (one component per kind: Recharts needs it)."""
    if kind == "bar":
        chart, series = (
            rx.recharts.bar_chart,
            (lambda n: rx.recharts.bar(data_key=n, fill=rx.color("accent", 9))),
        )
    else:
        chart, series = (
            rx.recharts.line_chart,
            (lambda n: rx.recharts.line(data_key=n, stroke=rx.color("accent", 9))),
        )
    return chart(
        rx.foreach(RunState.output_series, series),
        rx.recharts.x_axis(data_key="x"),
        rx.recharts.y_axis(),
        rx.recharts.tooltip(),
        rx.recharts.legend(),
        data=RunState.output_chart,
        width="100%",
        height=240,
    )


def _output() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Output", weight="medium"),
                rx.text(RunState.output_title, size="2", color_scheme="gray"),
            ),
            rx.match(
                RunState.output_kind,
                ("text", rx.text(RunState.output_text, white_space="pre-wrap")),
                (
                    "json",
                    rx.accordion.root(
                        rx.accordion.item(
                            header="JSON",
                            content=rx.code_block(
                                RunState.output_text, language="json", width="100%"
                            ),
                        ),
                        collapsible=True,
                        default_value="item-0",
                        type="single",
                        width="100%",
                    ),
                ),
                (
                    "table",
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.foreach(
                                    RunState.output_table.columns, rx.table.column_header_cell
                                )
                            )
                        ),
                        rx.table.body(
                            rx.foreach(
                                RunState.output_table.rows,
                                lambda row: rx.table.row(rx.foreach(row, rx.table.cell)),
                            )
                        ),
                        width="100%",
                        size="1",
                    ),
                ),
                (
                    "chart",
                    rx.cond(RunState.output_chart_type == "bar", _chart("bar"), _chart("line")),
                ),
                rx.text(
                    "No output yet: it appears here as the agent reports it.",
                    size="2",
                    color_scheme="gray",
                ),
            ),
            width="100%",
        ),
        width="100%",
    )


def _controls() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text("Step in", weight="medium"),
            rx.cond(
                RunState.finished,
                rx.text(
                    "The run has ended; you can still complete supervision with a note.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.vstack(
                    rx.hstack(
                        rx.cond(
                            RunState.status == "paused",
                            rx.button(rx.icon("play", size=14), "Resume", on_click=RunState.resume),
                            rx.button(
                                rx.icon("pause", size=14),
                                "Pause",
                                variant="soft",
                                on_click=RunState.pause,
                            ),
                        ),
                        rx.alert_dialog.root(
                            rx.alert_dialog.trigger(
                                rx.button(
                                    rx.icon("octagon-x", size=14),
                                    "Terminate",
                                    color_scheme="red",
                                    variant="soft",
                                )
                            ),
                            rx.alert_dialog.content(
                                rx.alert_dialog.title("Terminate this run?"),
                                rx.alert_dialog.description(
                                    "The agent is told to stop at once. This cannot be undone."
                                ),
                                rx.input(
                                    placeholder="Why (the agent and the audit trail get this)",
                                    value=RunState.terminate_reason,
                                    on_change=RunState.set_terminate_reason,
                                    margin_y="1em",
                                    aria_label="Reason to terminate",
                                ),
                                rx.hstack(
                                    rx.alert_dialog.cancel(
                                        rx.button(
                                            "Keep running", variant="soft", color_scheme="gray"
                                        )
                                    ),
                                    rx.alert_dialog.action(
                                        rx.button(
                                            "Terminate",
                                            color_scheme="red",
                                            on_click=RunState.terminate,
                                            disabled=RunState.terminate_reason == "",
                                        )
                                    ),
                                    justify="end",
                                ),
                            ),
                        ),
                    ),
                    rx.hstack(
                        rx.input(
                            placeholder="Correction for the agent",
                            value=RunState.correction,
                            on_change=RunState.set_correction,
                            width="100%",
                            aria_label="Correction",
                        ),
                        rx.button("Send", on_click=RunState.send_correction),
                        width="100%",
                    ),
                    width="100%",
                ),
            ),
            rx.cond(
                RunState.supervision_completed,
                rx.badge("supervision completed", color_scheme="green"),
                rx.hstack(
                    rx.input(
                        placeholder="Note to end supervision",
                        value=RunState.complete_note,
                        on_change=RunState.set_complete_note,
                        width="100%",
                        aria_label="Completion note",
                    ),
                    rx.select(
                        ["1", "2", "3", "4", "5"],
                        value=RunState.complete_rating,
                        on_change=RunState.set_complete_rating,
                        aria_label="Rating",
                        size="2",
                    ),
                    rx.button(
                        "Complete session", variant="outline", on_click=RunState.complete_session
                    ),
                    width="100%",
                ),
            ),
            width="100%",
        ),
        width="100%",
    )


def run_page() -> rx.Component:
    return dashboard_page(
        "Run",
        rx.cond(
            RunState.found,
            rx.vstack(
                rx.hstack(
                    rx.link(rx.icon("arrow-left", size=14), "Monitoring", href="/"),
                    rx.heading(RunState.action, size="5"),
                    status_badge(RunState.status),
                    rx.cond(RunState.stale, stale_badge(RunState.silent_for)),
                    rx.text(
                        "by ",
                        rx.link(
                            RunState.agent_name, href="/history/" + RunState.agent_id.to_string()
                        ),
                        size="2",
                    ),
                    rx.cond(
                        RunState.supervision == "none",
                        rx.text("· unsupervised (audited)", size="2"),
                        rx.text("· supervised by ", RunState.supervisor, size="2"),
                    ),
                    rx.cond(
                        RunState.supervision == "autonomous",
                        rx.badge("AI supervisor", color_scheme="purple"),
                    ),
                    rx.text("· started ", RunState.started, size="2", color_scheme="gray"),
                    align="center",
                    wrap="wrap",
                ),
                rx.cond(
                    RunState.stale,
                    rx.callout(
                        "No word from the agent for " + RunState.silent_for + ". It ends "
                        "'lost' if the silence lasts; the agent is then told to stop.",
                        icon="clock-alert",
                        color_scheme="amber",
                        width="100%",
                    ),
                ),
                rx.cond(
                    RunState.ended_because != "",
                    rx.callout(
                        RunState.ended_because,
                        icon="octagon-x",
                        color_scheme="red",
                        width="100%",
                        data_testid="run-ended-because",
                    ),
                ),
                rx.flex(
                    rx.vstack(_progress(), _log_viewer(), width=["100%", "100%", "62%"]),
                    rx.vstack(
                        _controls(),
                        _output(),
                        rx.card(
                            rx.text("Parameters", weight="medium"),
                            rx.code_block(RunState.parameters_json, language="json", width="100%"),
                            width="100%",
                        ),
                        width=["100%", "100%", "38%"],
                    ),
                    direction=rx.breakpoints(initial="column", md="row"),
                    spacing="4",
                    width="100%",
                    align="start",
                ),
                width="100%",
                spacing="3",
            ),
            empty_state(
                "search-x", "Run not found", "It does not exist or is supervised by someone else."
            ),
        ),
    )
