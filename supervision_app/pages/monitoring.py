"""Monitoring screen: the runs a supervisor is responsible for, as they happen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

import reflex as rx

from services import agents as agent_service
from services import execution_reads as execution_service
from services import users as user_service
from services.clock import utcnow
from services.policy import liveness_policy
from services.views import ExecutionRead
from supervision_app.components.badges import stale_badge, status_badge
from supervision_app.components.card_table import card_table, labelled
from supervision_app.components.fields import select_field
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.timefmt import clock_time, exact_utc, span
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone


@dataclass
class RunRow:
    id: int
    agent: str
    action: str
    supervisor: str
    supervision: str
    status: str
    step: str
    percent: int
    started: str
    duration: str
    stale: bool
    silent_for: str
    started_exact: str = ""  # the hover title: the exact UTC time
    started_sort: str = ""  # ISO time: sorts right across days and years


def _row(
    run: ExecutionRead, agents: dict[int, str], users: dict[int, str], zone: tzinfo, now: datetime
) -> RunRow:
    if run.supervision == "human":
        supervisor = users.get(run.supervisor_user_id or 0, "—")
    elif run.supervision == "autonomous":
        supervisor = agents.get(run.supervisor_agent_id or 0, "—")
    else:
        supervisor = "unsupervised (audited)"
    return RunRow(
        id=run.id,
        agent=agents.get(run.agent_id, "?"),
        action=run.action,
        supervisor=supervisor,
        supervision=run.supervision,
        status=run.status,
        step=run.current_step or "",
        percent=int(run.progress_percent or 0),
        started=clock_time(run.started_at or run.created_at, now, zone),
        started_exact=exact_utc(run.started_at or run.created_at),
        duration=_duration(run, now),
        stale=run.stale,
        silent_for=_silent_for(run, now) if run.finished_at is None else "",
        started_sort=(run.started_at or run.created_at).isoformat(),
    )


def _silent_for(run: ExecutionRead, now: datetime) -> str:
    if run.last_seen_at is None:
        return ""
    return span((now - run.last_seen_at).total_seconds())


def _duration(run: ExecutionRead, now: datetime) -> str:
    if run.started_at is None:
        return "waiting for the agent"
    return span(((run.finished_at or now) - run.started_at).total_seconds())


ALL = "all"
# Runs that need a look come first: held, gone quiet, not started by their agent yet.
ATTENTION = {"paused": 0, "stale": 1, "ready": 2}


def attention_order(rows: list[RunRow]) -> list[RunRow]:
    """Paused, then stale, then waiting for their agent, then the rest; oldest first within."""

    def weight(row: RunRow) -> tuple[int, str]:
        if row.status == "paused":
            rank = ATTENTION["paused"]
        elif row.stale:
            rank = ATTENTION["stale"]
        elif row.status == "ready":
            rank = ATTENTION["ready"]
        else:
            rank = len(ATTENTION)
        return rank, row.started_sort

    return sorted(rows, key=weight)


def matching(rows: list[RunRow], agent: str, status: str, supervision: str) -> list[RunRow]:
    """The rows the filters keep ("all" keeps everything; "stale" is a status here)."""
    return [
        row
        for row in rows
        if (agent == ALL or row.agent == agent)
        and (status == ALL or row.status == status or (status == "stale" and row.stale))
        and (supervision == ALL or row.supervision == supervision)
    ]


class MonitoringState(rx.State):
    runs: list[RunRow] = []
    recent: list[RunRow] = []
    loaded: bool = False
    agent_filter: str = ALL
    status_filter: str = ALL
    supervision_filter: str = ALL
    agent_options: list[str] = [ALL]
    total_active: int = 0
    _all_runs: list[RunRow] = []

    def _apply_filters(self) -> None:
        self.runs = attention_order(
            matching(self._all_runs, self.agent_filter, self.status_filter, self.supervision_filter)
        )

    @rx.event
    def set_agent_filter(self, value: str):
        self.agent_filter = value
        self._apply_filters()

    @rx.event
    def set_status_filter(self, value: str):
        self.status_filter = value
        self._apply_filters()

    @rx.event
    def set_supervision_filter(self, value: str):
        self.supervision_filter = value
        self._apply_filters()

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        supervisor_filter = execution_service.watched_runs_scope(user)

        def fetch(session):
            runs = execution_service.list_executions(
                session=session,
                supervisor_user_id=supervisor_filter,
                active_only=True,
                now=utcnow(),
                liveness=liveness_policy(),
            )
            recent = execution_service.list_executions(
                session=session, supervisor_user_id=supervisor_filter, finished_only=True, limit=15
            )
            agents = {a.id: a.name for a in agent_service.list_agents(session=session)}
            users = {u.id: u.display_name for u in user_service.list_users(session=session)}
            return runs, recent, agents, users

        runs, recent, agents, users = await data.read(fetch)
        zone, now = viewer_zone(self), utcnow()
        self._all_runs = [_row(run, agents, users, zone, now) for run in runs]
        self.total_active = len(self._all_runs)
        self.agent_options = [ALL, *sorted({row.agent for row in self._all_runs})]
        self._apply_filters()
        self.recent = [_row(run, agents, users, zone, now) for run in recent]
        self.loaded = True


def _run_row(row: RunRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(row.agent, href="/runs/" + row.id.to_string(), weight="medium")),
        rx.table.cell(rx.code(row.action, size="1")),
        rx.table.cell(
            rx.hstack(
                rx.text(row.supervisor),
                rx.cond(
                    row.supervision == "autonomous",
                    rx.badge("AI supervisor", color_scheme="purple"),
                ),
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.hstack(
                    status_badge(row.status),
                    rx.cond(row.stale, stale_badge(row.silent_for)),
                    spacing="1",
                ),
                rx.cond(
                    row.silent_for != "",
                    rx.text("agent heard ", row.silent_for, " ago", size="1", color_scheme="gray"),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.progress(value=row.percent, width="8em", aria_label="Progress"),
                rx.text(row.step, size="1"),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.text(row.started, size="1", title=row.started_exact),
                rx.text(row.duration, size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        data_testid="run-row",
    )


RUN_COLUMNS = ["Agent", "Action", "Supervisor", "Status", "Progress", "Started"]


def _runs_table(rows) -> rx.Component:  # noqa: ANN001
    return rx.box(
        card_table(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in RUN_COLUMNS])),
            rx.table.body(rx.foreach(rows, lambda row: labelled(_run_row(row), RUN_COLUMNS))),
            width="100%",
        ),
        overflow_x="auto",
        width="100%",
    )


def _filters() -> rx.Component:
    def choose(label: str, options, value, on_change) -> rx.Component:  # noqa: ANN001
        return rx.hstack(
            rx.text(label, size="2", color_scheme="gray"),
            select_field(options, value=value, on_change=on_change, size="1", label=label),
            align="center",
            spacing="1",
        )

    return rx.hstack(
        choose(
            "Agent",
            MonitoringState.agent_options,
            MonitoringState.agent_filter,
            MonitoringState.set_agent_filter,
        ),
        choose(
            "Status",
            [ALL, "paused", "stale", "ready", "running"],
            MonitoringState.status_filter,
            MonitoringState.set_status_filter,
        ),
        choose(
            "Supervision",
            [ALL, "human", "autonomous", "none"],
            MonitoringState.supervision_filter,
            MonitoringState.set_supervision_filter,
        ),
        spacing="4",
        wrap="wrap",
    )


def monitoring_page() -> rx.Component:
    return dashboard_page(
        "Monitoring",
        _filters(),
        rx.cond(
            ~MonitoringState.loaded,
            rx.vstack(*[rx.skeleton(rx.box(height="2.5em")) for _ in range(3)], width="100%"),
            rx.cond(
                MonitoringState.runs.length() > 0,
                _runs_table(MonitoringState.runs),
                rx.cond(
                    MonitoringState.total_active > 0,
                    empty_state(
                        "filter", "No run matches these filters", "Choose “all” to see every run."
                    ),
                    rx.cond(
                        AuthState.role == "viewer",
                        empty_state(
                            "activity",
                            "No active runs",
                            "The team's runs appear here as agents act; open one to follow it "
                            "live. As a viewer you watch: supervisors and admins step in.",
                        ),
                        empty_state(
                            "activity",
                            "No active runs",
                            "Runs appear here when an agent you supervise is approved to act: a "
                            "SUPERVISED agent while you are online, an approved proposal, or "
                            "dispatched queue work.",
                        ),
                    ),
                ),
            ),
        ),
        rx.cond(
            MonitoringState.recent.length() > 0,
            rx.vstack(
                rx.heading("Recently finished", size="3"),
                _runs_table(MonitoringState.recent),
                width="100%",
            ),
        ),
    )
