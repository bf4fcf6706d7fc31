"""Agent history: an agent's past runs with outcome, duration and interventions; open to replay."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx
from sqlmodel import func, select

from models import Intervention
from services import agents as agent_service
from services import execution_reads as execution_service
from services import governance
from services.clock import utcnow
from services.errors import DomainError
from supervision_app.components.badges import level_badge, status_badge
from supervision_app.components.card_table import card_table, labelled
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.timefmt import clock_time, span
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone


@dataclass
class HistoryRow:
    id: int
    action: str
    status: str
    started: str
    duration: str
    interventions: int
    supervision: str


@dataclass
class DecisionRow:
    at: str
    action: str
    decision: str
    reason: str


class HistoryState(rx.State):
    decisions: list[DecisionRow] = []
    agent_name: str = ""
    agent_level: str = ""
    rows: list[HistoryRow] = []
    found: bool = False
    loaded: bool = False  # until the first answer for this agent, a skeleton
    _agent_id: int = 0

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        try:
            agent_id = int(self.router.page.params.get("agent_id", "0"))
        except ValueError:
            agent_id = 0
        if agent_id != self._agent_id:
            self._agent_id, self.loaded, self.found = agent_id, False, False

        def fetch(session):  # noqa: ANN001, ANN202
            agent = agent_service.get_agent(session=session, agent_id=agent_id)
            runs = execution_service.list_executions(session=session, agent_id=agent_id, limit=200)
            if not user.sees_the_team:  # runs they watched, every run of an agent they supervise
                runs = [r for r in runs if user.id in (r.supervisor_user_id, agent.supervisor_id)]
            counts = dict(
                session.exec(
                    select(Intervention.execution_id, func.count())
                    .where(
                        Intervention.execution_id.in_([r.id for r in runs])  # type: ignore[attr-defined]
                    )
                    .group_by(Intervention.execution_id)
                ).all()
            )
            decisions = governance.recent_decisions(session=session, agent_id=agent_id, limit=15)
            return agent, runs, counts, decisions

        try:
            agent, runs, counts, decisions = await data.read(fetch)
        except DomainError:
            self.found, self.loaded = False, True
            return
        if not user.sees_the_team and agent.supervisor_id != user.id and not runs:
            self.found, self.loaded = False, True
            return
        self.found, self.loaded = True, True
        self.agent_name, self.agent_level = agent.name, str(agent.maturity_level)
        now, zone = utcnow(), viewer_zone(self)
        self.decisions = [
            DecisionRow(
                at=clock_time(d.created_at, now, zone, seconds=True),
                action=d.action,
                decision=str(d.decision),
                reason=d.decision_reason,
            )
            for d in decisions
        ]
        self.rows = []
        for run in runs:
            duration = "—"
            if run.started_at and run.finished_at:
                duration = span((run.finished_at - run.started_at).total_seconds())
            self.rows.append(
                HistoryRow(
                    id=run.id,
                    action=run.action,
                    status=run.status,
                    started=clock_time(run.started_at or run.created_at, now, zone),
                    duration=duration,
                    interventions=counts.get(run.id, 0),
                    supervision=run.supervision,
                )
            )


RUN_COLUMNS = ["Action", "Outcome", "Started", "Duration", "Interventions", "Supervision"]


def _row(row: HistoryRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(row.action, href="/runs/" + row.id.to_string())),
        rx.table.cell(status_badge(row.status)),
        rx.table.cell(row.started),
        rx.table.cell(row.duration),
        rx.table.cell(row.interventions),
        rx.table.cell(row.supervision),
    )


def history_page() -> rx.Component:
    return dashboard_page(
        "Agent history",
        rx.cond(
            HistoryState.found,
            rx.vstack(
                rx.hstack(
                    rx.heading(HistoryState.agent_name, size="4"),
                    level_badge(HistoryState.agent_level),
                    align="center",
                ),
                rx.heading("Recent decisions", size="3"),
                rx.cond(
                    HistoryState.decisions.length() > 0,
                    rx.vstack(
                        rx.foreach(
                            HistoryState.decisions,
                            lambda d: rx.hstack(
                                rx.text(d.at, size="1", color_scheme="gray"),
                                rx.code(d.action, size="1"),
                                rx.badge(d.decision, variant="soft"),
                                rx.text(d.reason, size="1", color_scheme="gray"),
                                align="center",
                                wrap="wrap",
                                data_testid="decision-row",
                            ),
                        ),
                        spacing="1",
                    ),
                    rx.text("This agent has not asked to act yet.", size="2", color_scheme="gray"),
                ),
                rx.heading("Runs", size="3"),
                rx.cond(
                    HistoryState.rows.length() > 0,
                    card_table(
                        rx.table.header(
                            rx.table.row(*[rx.table.column_header_cell(h) for h in RUN_COLUMNS])
                        ),
                        rx.table.body(
                            rx.foreach(HistoryState.rows, lambda r: labelled(_row(r), RUN_COLUMNS))
                        ),
                        width="100%",
                    ),
                    empty_state(
                        "history",
                        "No runs yet",
                        "Runs of this agent appear here once it is approved to act.",
                    ),
                ),
                width="100%",
            ),
            empty_state(
                "search-x",
                "Agent not found",
                "It does not exist or you do not supervise it.",
                loaded=HistoryState.loaded,
            ),
        ),
    )
