"""One run's page state: the run, its log as it grows, its output, and the steering
(pause, resume, correct, terminate, complete supervision)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from services import agents as agent_service
from services import execution_events, interventions
from services import users as user_service
from services.clock import utcnow
from services.errors import DomainError
from services.policy import liveness_policy
from supervision_app.pages import run_view
from supervision_app.pages.run_view import ENDED, LogLine, Step, TableData
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone

LEVELS = ["debug", "info", "warning", "error"]
FOLLOW_TAIL = "document.getElementById('log-end')?.scrollIntoView({block: 'nearest'})"


def _supervisor_name(session, execution) -> str:  # noqa: ANN001
    if str(execution.supervision) == "none":
        return ""
    if execution.supervisor_agent_id:
        return agent_service.get_agent(session=session, agent_id=execution.supervisor_agent_id).name
    if execution.supervisor_user_id:
        return user_service.get_user(
            session=session, user_id=execution.supervisor_user_id
        ).display_name
    return ""


class RunState(rx.State):
    execution_id: int = 0
    loaded: bool = False  # until the first answer, the page shows a skeleton, not "not found"
    found: bool = False
    may_steer: bool = False  # a viewer reads the run; its supervisor and admins steer it
    agent_name: str = ""
    agent_id: int = 0
    action: str = ""
    parameters_json: str = ""
    status: str = ""
    stale: bool = False
    silent_for: str = ""
    last_heard: str = ""
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
        return self.status in ENDED

    def _requested_id(self) -> int:
        try:
            return int(self.router.page.params.get("execution_id", "0"))
        except ValueError:
            return 0

    @rx.event
    async def load(self):
        """The whole run: who, how it stands, its steering history, and events not seen yet."""
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        execution_id = self._requested_id()
        if execution_id != self.execution_id:
            self._reset(execution_id)
        after = self._last_seq

        zone = viewer_zone(self)

        def fetch(session):  # noqa: ANN001, ANN202
            execution = interventions.readable_execution(
                session=session, execution_id=execution_id, caller=user
            )
            steer = interventions.may_steer(session=session, execution=execution, caller=user)
            agent = agent_service.get_agent(session=session, agent_id=execution.agent_id)
            events = execution_events.list_events(
                session=session, execution_id=execution_id, after_seq=after, limit=20000
            )
            done = any(
                i.kind == "complete"
                for i in interventions.list_interventions(
                    session=session, execution_id=execution_id
                )
            )
            view = run_view.snapshot(execution, utcnow(), liveness_policy(), zone)
            return view, agent, _supervisor_name(session, execution), events, done, steer

        try:
            view, agent, supervisor, events, done, steer = await data.read(fetch)
        except DomainError:
            self.found, self.loaded = False, True
            return
        self.found, self.loaded = True, True
        self.agent_name, self.agent_id = agent.name, agent.id
        self.supervisor = supervisor
        self.supervision_completed = done
        self.may_steer = steer
        return self._show(view, events)

    @rx.event
    async def on_change(self, topics: str):
        """Pushed when this run changed: new events only append (two small reads); anything
        else (status, supervisor, steering) reloads the run."""
        execution_id = self._requested_id()
        if (
            not self.found
            or execution_id != self.execution_id
            or topics != f"events:{execution_id}"
        ):
            return await self.load()
        return await self._append_new()

    @rx.event
    async def check_liveness(self):
        """Every few seconds while the run goes on: whether its agent has gone quiet is a
        matter of time passing, which no change announces."""
        if self.found and not self.finished and self._requested_id() == self.execution_id:
            return await self._append_new()
        return None

    async def _append_new(self):
        """The run's header as of now and the events not seen yet (two small reads)."""
        execution_id = self.execution_id
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        after = self._last_seq

        zone = viewer_zone(self)

        def fetch(session):  # noqa: ANN001, ANN202
            execution = interventions.readable_execution(
                session=session, execution_id=execution_id, caller=user
            )
            events = execution_events.list_events(
                session=session, execution_id=execution_id, after_seq=after, limit=20000
            )
            return run_view.snapshot(execution, utcnow(), liveness_policy(), zone), events

        try:
            view, events = await data.read(fetch)
        except DomainError:
            return await self.load()
        return self._show(view, events)

    def _show(self, view: dict[str, Any], events: list[execution_events.EventRead]):
        for key, value in view.items():
            if getattr(self, key) != value:
                setattr(self, key, value)
        self._ingest(events)
        if events and self.following:
            return rx.call_script(FOLLOW_TAIL)  # keep the newest line in view in the log box
        return None

    def _reset(self, execution_id: int) -> None:
        self.execution_id = execution_id
        self.loaded = self.found = False
        self._lines, self._last_seq, self._step_names = [], 0, []
        self.visible, self.steps, self.total_lines, self.new_while_paused = [], [], 0, 0
        self.output_kind = ""
        self.following = True

    def _ingest(self, events: list[execution_events.EventRead]) -> None:
        added, zone = [], viewer_zone(self)
        for event in events:
            self._last_seq = max(self._last_seq, event.seq)
            line = run_view.log_line(event, zone)
            if line is not None:
                self._lines.append(line)
                added.append(line)
            self._step_names = run_view.step_names_after(self._step_names, event)
            if event.kind == "output" and isinstance(event.data, dict):
                self._show_output(run_view.output_view(event.data))
        self.total_lines = len(self._lines)
        self.steps = run_view.steps(self._step_names, self.current_step, self.status)
        if not added:
            return
        if not self.following:
            self.new_while_paused += len(added)
        elif self.search.strip() or len(self.visible) + len(added) > run_view.MAX_VISIBLE_LINES:
            self._filter()
        else:  # the common case: append the new lines, send only those
            self.visible = self.visible + run_view.visible_lines(added, self.level_filter, "")

    def _show_output(self, view: run_view.OutputView) -> None:
        self.output_kind, self.output_title, self.output_text = view.kind, view.title, view.text
        self.output_table, self.output_chart = view.table, view.chart
        self.output_series, self.output_chart_type = view.series, view.chart_type

    def _filter(self) -> None:
        self.visible = run_view.visible_lines(self._lines, self.level_filter, self.search)
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
            return rx.toast.error(data.sentence(error.message))
        await self.load()
        return rx.toast.success("Supervision completed.")
