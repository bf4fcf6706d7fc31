"""Builds the Reflex app: dashboard pages, the /api routes, and the scheduler lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import reflex as rx

from scheduler.runner import run_scheduler
from services.autonomous_review import stop_reviews
from services.change_relay import start_change_relay
from services.config import get_settings
from services.migrations import upgrade_database
from supervision_app.api.app import build_api
from supervision_app.components.delegate_card import DelegateState
from supervision_app.components.notice_email import NoticeEmailState
from supervision_app.components.timefmt import ZONE_COOKIE_SCRIPT
from supervision_app.pages.agents import AgentsState, agents_page
from supervision_app.pages.audit import AuditState, audit_page
from supervision_app.pages.decide import DecideState, decide_page
from supervision_app.pages.escalation import EscalationState, escalation_page
from supervision_app.pages.history import HistoryState, history_page
from supervision_app.pages.inbox import inbox_page
from supervision_app.pages.login import login_page
from supervision_app.pages.monitoring import MonitoringState, monitoring_page
from supervision_app.pages.presence import PresenceState, presence_page
from supervision_app.pages.proposals import ProposalsState, proposals_page
from supervision_app.pages.queue import QueueState, queue_page
from supervision_app.pages.reviewers import ReviewersState, reviewers_page
from supervision_app.pages.run import RunState, run_page
from supervision_app.pages.users import UsersState, users_page
from supervision_app.states.auth import AuthState
from supervision_app.states.inbox import InboxState
from supervision_app.states.nav import NavState, reload_on_change

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("apscheduler").setLevel(logging.WARNING)

app = rx.App(
    api_transformer=build_api(),
    stylesheets=["/accessible.css"],
    head_components=[
        rx.el.meta(name="viewport", content="width=device-width, initial-scale=1"),
        rx.script(ZONE_COOKIE_SCRIPT),  # the viewer's time zone, before the websocket opens
    ],
)
# A lost connection is said in words on the page (components.layout.connection_banner),
# not in the framework's raw websocket toast.
app.app_wraps[(5, "Overlay")] = lambda _stateful: None

app.add_page(
    login_page, route="/login", title="Sign in · Supervision", on_load=AuthState.load_login_page
)
# A notice's link: no sign-in wall of its own (the link's policy decides whether to ask).
app.add_page(
    decide_page, route="/decide/[token]", title="Decide · Supervision", on_load=DecideState.load
)
AUDITED = {
    "action_request",
    "agent",
    "category",
    "escalation_chain",
    "execution",
    "notification_channel",
    "on_call_shift",
    "proposal",
    "queue_entry",
    "team",
    "user",
}


# Not "events": a run that speaks again leaves the list at its 15 s refresh, not per line.
INBOX_TOPICS = {"proposal", "execution", "queue_entry", "agent"}


def _run_topics(params: dict[str, str]) -> set[str]:
    run = params.get("execution_id", "")
    return {f"execution:{run}", f"events:{run}"} if run.isdigit() else set()


def _history_topics(params: dict[str, str]) -> set[str]:
    agent = params.get("agent_id", "")
    return {f"agent:{agent}", "execution", "proposal"} if agent.isdigit() else set()


# (page, route, title, load event, what it shows): every screen is signed-in only and
# reloads when what it shows changes (services.changes topics).
SCREENS = [
    (inbox_page, "/", "Needs you", InboxState.load, lambda _: INBOX_TOPICS),
    (
        monitoring_page,
        "/monitoring",
        "Monitoring",
        MonitoringState.load,
        lambda _: {"execution", "events", "agent"},
    ),
    (
        proposals_page,
        "/proposals",
        "Proposals",
        ProposalsState.load,
        lambda _: {"proposal", "agent"},
    ),
    (
        queue_page,
        "/queue",
        "Queue",
        QueueState.load,
        lambda _: {"queue_entry", "execution", "presence"},
    ),
    (agents_page, "/agents", "Agents", AgentsState.load, lambda _: {"agent", "category", "user"}),
    (
        presence_page,
        "/presence",
        "Team presence",
        PresenceState.load,
        lambda _: {"presence", "user"},
    ),
    (audit_page, "/audit", "Audit", AuditState.load, lambda _: AUDITED),
    (users_page, "/users", "Users", UsersState.load, lambda _: {"user", "presence"}),
    (
        reviewers_page,
        "/reviewers",
        "Reviewers",
        ReviewersState.load,
        lambda _: {"proposal", "category", "agent", "team"},
    ),
    (
        escalation_page,
        "/escalation",
        "Escalation",
        EscalationState.load,
        lambda _: {"agent", "user", "escalation_chain", "on_call_shift", "notification_channel"},
    ),
    (run_page, "/runs/[execution_id]", "Run", RunState.load, _run_topics),
    (history_page, "/history/[agent_id]", "Agent history", HistoryState.load, _history_topics),
]
# Extra on_load events of a screen (not run by live reloads).
OPENED_BY_LINK = {
    "/proposals": [ProposalsState.open_from_link],
    "/presence": [DelegateState.load, NoticeEmailState.load],
}
for page, route, title, load, interests in SCREENS:
    app.add_page(
        page,
        route=route,
        title=f"{title} · Supervision",
        on_load=[
            AuthState.require_login,
            load,
            *OPENED_BY_LINK.get(route, []),
            NavState.page_loaded,
        ],
    )
    if page is run_page:  # a run's new lines append at once, without reloading the run
        reload_on_change(route, RunState.on_change, interests, min_gap_s=0.0, takes_topics=True)
    else:
        reload_on_change(route, load, interests)


@app.register_lifespan_task
@contextlib.asynccontextmanager
async def app_lifespan():
    """Upgrade the database, then run the scheduler for as long as the app runs; at the end,
    drop reviews not started yet (the next start reviews them)."""
    await asyncio.to_thread(upgrade_database)
    relay = start_change_relay(get_settings().resolved_database_url)
    try:
        if not get_settings().scheduler_enabled:
            yield
            return
        async with run_scheduler():
            yield
    finally:
        stop_reviews()
        if relay is not None:
            await asyncio.to_thread(relay.stop)
