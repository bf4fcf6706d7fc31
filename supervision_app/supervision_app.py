"""Builds the Reflex app: dashboard pages, the /api routes, and the scheduler lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import reflex as rx

from scheduler.runner import run_scheduler
from services.autonomous_review import stop_reviews
from services.config import get_settings
from services.migrations import upgrade_database
from supervision_app.api.app import build_api
from supervision_app.pages.agents import AgentsState, agents_page
from supervision_app.pages.audit import AuditState, audit_page
from supervision_app.pages.history import HistoryState, history_page
from supervision_app.pages.login import login_page
from supervision_app.pages.monitoring import MonitoringState, monitoring_page
from supervision_app.pages.presence import PresenceState, presence_page
from supervision_app.pages.proposals import ProposalsState, proposals_page
from supervision_app.pages.queue import QueueState, queue_page
from supervision_app.pages.reviewers import ReviewersState, reviewers_page
from supervision_app.pages.run import RunState, run_page
from supervision_app.pages.users import UsersState, users_page
from supervision_app.states.auth import AuthState
from supervision_app.states.nav import reload_on_change

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("apscheduler").setLevel(logging.WARNING)

app = rx.App(
    api_transformer=build_api(),
    head_components=[rx.el.meta(name="viewport", content="width=device-width, initial-scale=1")],
)

app.add_page(
    login_page, route="/login", title="Sign in · Supervision", on_load=AuthState.load_login_page
)
# (page, route, title, load event): every screen is signed-in only and reloads live.
SCREENS = [
    (monitoring_page, "/", "Monitoring", MonitoringState.load),
    (proposals_page, "/proposals", "Proposals", ProposalsState.load),
    (queue_page, "/queue", "Queue", QueueState.load),
    (agents_page, "/agents", "Agents", AgentsState.load),
    (presence_page, "/presence", "Team presence", PresenceState.load),
    (audit_page, "/audit", "Audit", AuditState.load),
    (users_page, "/users", "Users", UsersState.load),
    (reviewers_page, "/reviewers", "Reviewers", ReviewersState.load),
    (run_page, "/runs/[execution_id]", "Run", RunState.load),
    (history_page, "/history/[agent_id]", "Agent history", HistoryState.load),
]
for page, route, title, load in SCREENS:
    app.add_page(
        page, route=route, title=f"{title} · Supervision", on_load=[AuthState.require_login, load]
    )
    reload_on_change(route, load)


@app.register_lifespan_task
@contextlib.asynccontextmanager
async def app_lifespan():
    """Upgrade the database, then run the scheduler for as long as the app runs; at the end,
    drop reviews not started yet (the next start reviews them)."""
    await asyncio.to_thread(upgrade_database)
    try:
        if not get_settings().scheduler_enabled:
            yield
            return
        async with run_scheduler():
            yield
    finally:
        stop_reviews()
