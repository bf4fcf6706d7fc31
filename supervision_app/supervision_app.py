"""Builds the Reflex app: dashboard pages, the /api routes, and the scheduler lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import reflex as rx

from scheduler.runner import run_scheduler
from services.config import get_settings
from services.migrations import upgrade_database
from supervision_app.api.app import build_api
from supervision_app.pages.agents import AgentsState, agents_page
from supervision_app.pages.audit import AuditState, audit_page
from supervision_app.pages.login import login_page
from supervision_app.pages.monitoring import MonitoringState, monitoring_page
from supervision_app.pages.users import UsersState, users_page
from supervision_app.states.auth import AuthState

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = rx.App(
    api_transformer=build_api(),
    head_components=[rx.el.meta(name="viewport", content="width=device-width, initial-scale=1")],
)

app.add_page(
    login_page, route="/login", title="Sign in · Supervision", on_load=AuthState.load_login_page
)
app.add_page(
    monitoring_page,
    route="/",
    title="Monitoring · Supervision",
    on_load=[AuthState.require_login, MonitoringState.load],
)
app.add_page(
    agents_page,
    route="/agents",
    title="Agents · Supervision",
    on_load=[AuthState.require_login, AgentsState.load],
)
app.add_page(
    users_page,
    route="/users",
    title="Users · Supervision",
    on_load=[AuthState.require_login, UsersState.load],
)
app.add_page(
    audit_page,
    route="/audit",
    title="Audit · Supervision",
    on_load=[AuthState.require_login, AuditState.load],
)


@app.register_lifespan_task
@contextlib.asynccontextmanager
async def app_lifespan():
    """Upgrade the database, then run the scheduler for as long as the app runs."""
    await asyncio.to_thread(upgrade_database)
    if not get_settings().scheduler_enabled:
        yield
        return
    async with run_scheduler():
        yield
