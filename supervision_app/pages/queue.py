"""Queue screen: SUPERVISED work waiting for me; cancel, reorder, or run it now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import reflex as rx

from services import agents as agent_service
from services import queue
from services.clock import utcnow
from services.errors import DomainError
from services.policy import queue_policy
from services.users import list_users
from services.views import QueueEntryRead
from supervision_app.components.badges import status_badge
from supervision_app.components.card_table import card_table, labelled
from supervision_app.components.confirm import confirm_button
from supervision_app.components.fields import select_field
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.pager import pager
from supervision_app.components.run_now import run_now_button
from supervision_app.components.timefmt import span
from supervision_app.states import data
from supervision_app.states.auth import AuthState
from supervision_app.states.nav import NavState

PAGE_SIZE = 25
ALL = "all"
MINE, TEAM = "Mine", "Team"


@dataclass
class EntryRow:
    id: int
    agent: str
    action: str
    reason: str
    priority: int
    status: str
    age: str
    expires_in: str
    attempts: str
    last_error: str
    pending: bool
    mine: bool  # only the entry's own supervisor can run it now (they watch the run)


def _row(
    entry: QueueEntryRead,
    agents: dict[int, str],
    supervisors: dict[int, str] | None,
    now: datetime,
    user_id: int,
) -> EntryRow:
    pending = entry.status == "pending"
    agent = agents.get(entry.agent_id, "?")
    if supervisors is not None:  # the team's queue: whose each entry is
        agent += f" · for {supervisors.get(entry.supervisor_id, '?')}"
    return EntryRow(
        id=entry.id,
        agent=agent,
        action=entry.action,
        reason=entry.reason,
        priority=entry.priority,
        status=entry.status,
        age=span((now - entry.created_at).total_seconds()),
        expires_in=span((entry.expires_at - now).total_seconds()) if pending else "—",
        attempts=f"{entry.attempts}/{entry.max_attempts}",
        last_error=entry.last_error or "",
        pending=pending,
        mine=entry.supervisor_id == user_id,
    )


class QueueState(rx.State):
    rows: list[EntryRow] = []
    status_filter: str = ALL
    page: int = 0
    has_next_page: bool = False
    summary: str = ""
    loaded: bool = False
    is_admin: bool = False
    scope: str = TEAM  # admins: the team's queue (what the sidebar counts) or their own

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        status = None if self.status_filter == ALL else self.status_filter
        offset = self.page * PAGE_SIZE
        now = utcnow()
        self.is_admin = user.is_admin
        team = user.is_admin and self.scope == TEAM
        supervisor_id = None if team else user.id

        def fetch(session):  # noqa: ANN001, ANN202
            entries = queue.list_entries(
                session=session,
                supervisor_id=supervisor_id,
                status=status,
                limit=PAGE_SIZE + 1,  # one past the page says whether "Next" leads anywhere
                offset=offset,
            )
            stats = queue.queue_stats(session=session, supervisor_id=supervisor_id, now=now)
            agents = {a.id: a.name for a in agent_service.list_agents(session=session)}
            supervisors = (
                {u.id: u.display_name for u in list_users(session=session)} if team else None
            )
            return entries, stats, agents, supervisors

        entries, stats, agents, supervisors = await data.read(fetch)
        self.has_next_page = len(entries) > PAGE_SIZE
        self.rows = [_row(e, agents, supervisors, now, user.id) for e in entries[:PAGE_SIZE]]
        oldest = (
            f", oldest waiting {span(stats.oldest_pending_age_s)}"
            if stats.oldest_pending_age_s
            else ""
        )
        mean = f", mean wait {span(stats.mean_wait_s)}" if stats.mean_wait_s is not None else ""
        self.summary = (
            f"{stats.counts['pending']} pending, {stats.counts['executing']} running, "
            f"{stats.counts['completed']} completed, {stats.counts['failed']} failed{oldest}{mean}"
        )
        self.loaded = True

    @rx.event
    async def set_scope(self, value: str | list[str]):
        self.scope = value if isinstance(value, str) else (value[0] if value else TEAM)
        self.page = 0
        await self.load()

    @rx.event
    async def set_status_filter(self, value: str):
        self.status_filter, self.page = value, 0
        await self.load()

    @rx.event
    async def next_page(self):
        if self.has_next_page:
            self.page += 1
            await self.load()

    @rx.event
    async def previous_page(self):
        if self.page:
            self.page -= 1
            await self.load()

    async def _act(self, action, success: str):  # noqa: ANN001, ANN202
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return rx.toast.error("Sign in again.")
        try:
            await data.write(lambda session: action(session, user))
        except DomainError as error:
            return rx.toast.error(data.sentence(error.message))
        await self.load()
        return rx.toast.success(success)

    @rx.event
    async def cancel(self, entry_id: int):
        return await self._act(
            lambda session, user: queue.cancel_entry(
                session=session, entry_id=entry_id, caller=user, now=utcnow()
            ),
            "Cancelled; the agent will not run it.",
        )

    @rx.event
    async def bump(self, entry_id: int, priority: int):
        return await self._act(
            lambda session, user: queue.set_priority(
                session=session, entry_id=entry_id, priority=priority, caller=user, now=utcnow()
            ),
            f"Priority set to {priority}.",
        )

    @rx.event
    async def run_now(self, entry_id: int):
        return await self._act(
            lambda session, user: queue.run_entry_now(
                session=session, entry_id=entry_id, caller=user, now=utcnow(), policy=queue_policy()
            ),
            "Started: watch it on Monitoring.",
        )


def _entry(row: EntryRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.code(row.action, size="1"),
                rx.text(row.agent, size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(rx.text(row.reason, size="1", max_width="18em", trim="both")),
        rx.table.cell(status_badge(row.status)),
        rx.table.cell(
            rx.hstack(
                rx.text(row.priority),
                rx.cond(
                    row.pending,
                    rx.hstack(
                        rx.icon_button(
                            rx.icon("arrow-up", size=12),
                            size="1",
                            variant="ghost",
                            on_click=QueueState.bump(row.id, row.priority + 1),
                            aria_label="Raise priority",
                        ),
                        rx.icon_button(
                            rx.icon("arrow-down", size=12),
                            size="1",
                            variant="ghost",
                            on_click=QueueState.bump(row.id, row.priority - 1),
                            aria_label="Lower priority",
                        ),
                        spacing="0",
                    ),
                ),
                align="center",
            )
        ),
        rx.table.cell(row.age),
        rx.table.cell(row.expires_in),
        rx.table.cell(row.attempts),
        rx.table.cell(rx.text(row.last_error, size="1", color_scheme="red")),
        rx.table.cell(
            rx.cond(
                row.pending,
                rx.hstack(
                    rx.cond(
                        row.mine,
                        run_now_button(NavState.my_available, QueueState.run_now(row.id)),
                    ),
                    confirm_button(
                        "Cancel",
                        title="Cancel " + row.action + "?",
                        says="The agent is told it will not run. This cannot be undone.",
                        on_confirm=QueueState.cancel(row.id),
                        confirm_label="Cancel the work",
                    ),
                ),
            )
        ),
        data_testid="queue-row",
    )


QUEUE_COLUMNS = [
    "Action",
    "Reason",
    "Status",
    "Priority",
    "Age",
    "Expires in",
    "Attempts",
    "Last error",
    "",
]


def queue_page() -> rx.Component:
    return dashboard_page(
        "Queue",
        rx.hstack(
            rx.cond(
                QueueState.is_admin,
                rx.segmented_control.root(
                    rx.segmented_control.item(TEAM, value=TEAM),
                    rx.segmented_control.item(MINE, value=MINE),
                    value=QueueState.scope,
                    on_change=QueueState.set_scope,
                    aria_label="Whose queue",
                ),
            ),
            select_field(
                [ALL, "pending", "executing", "completed", "failed", "cancelled", "expired"],
                value=QueueState.status_filter,
                on_change=QueueState.set_status_filter,
                label="Status",
            ),
            rx.text(QueueState.summary, size="2", color_scheme="gray"),
            align="center",
            wrap="wrap",
        ),
        rx.cond(
            QueueState.rows.length() > 0,
            rx.box(
                card_table(
                    rx.table.header(
                        rx.table.row(*[rx.table.column_header_cell(h) for h in QUEUE_COLUMNS])
                    ),
                    rx.table.body(
                        rx.foreach(QueueState.rows, lambda e: labelled(_entry(e), QUEUE_COLUMNS))
                    ),
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
            ),
            rx.cond(
                QueueState.is_admin & (QueueState.scope == TEAM),
                empty_state(
                    "list-ordered",
                    "Nothing waiting in the team's queue",
                    "When a SUPERVISED agent asks to act while its supervisor is away or offline, "
                    "its work waits here and starts when they are back online.",
                    loaded=QueueState.loaded,
                ),
                rx.cond(
                    AuthState.role == "viewer",
                    empty_state(
                        "eye",
                        "The queue belongs to supervisors",
                        "SUPERVISED work waits here for its supervisor. As a viewer you follow "
                        "runs once they start, on Monitoring.",
                        loaded=QueueState.loaded,
                    ),
                    empty_state(
                        "list-ordered",
                        "Nothing waiting for you",
                        "When a SUPERVISED agent you supervise asks to act while you are away or "
                        "offline, its work waits here and starts when you are back online (or "
                        "with “Run now”).",
                        loaded=QueueState.loaded,
                    ),
                ),
            ),
        ),
        pager(
            QueueState.page,
            QueueState.has_next_page,
            QueueState.previous_page,
            QueueState.next_page,
        ),
    )
