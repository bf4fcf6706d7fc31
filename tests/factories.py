"""Data built through the services, with unique values."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlmodel import Session

from services import agents as agent_service
from services import presence
from services import users as user_service
from services.actors import Actor
from services.agents import AgentCredentials
from services.db import session_scope
from services.outbound_urls import CallbackTargets, check_callback_url
from services.presence import PresenceRules
from services.users import UserRead

_counter = itertools.count(1)
PASSWORD = "correct horse battery"
# The default thresholds (away after 5 minutes, offline after 15), for tests that move a clock.
PRESENCE_RULES = PresenceRules(away_after=timedelta(minutes=5), offline_after=timedelta(minutes=15))


def make_user(now: datetime, role: str = "supervisor", username: str | None = None) -> UserRead:
    with session_scope() as session:
        return user_service.create_user(
            session=session,
            username=username or f"user{next(_counter)}",
            password=PASSWORD,
            role=role,
            now=now,
            actor=Actor.system("tests"),
        )


def make_agent(
    now: datetime,
    level: str = "AUTONOMOUS",
    supervisor_id: int | None = None,
    category: str = "ops",
    **extra: object,
) -> AgentCredentials:
    if extra.get("callback_url"):  # test receivers listen on this machine: allowed here
        extra["callback_url"] = check_callback_url(
            str(extra["callback_url"]), CallbackTargets.parse(["127.0.0.1"])
        )
    with session_scope() as session:
        return agent_service.create_agent(
            session=session,
            name=f"agent-{next(_counter)}",
            category=category,
            maturity_level=level,
            supervisor_id=supervisor_id,
            now=now,
            actor=Actor.system("tests"),
            **extra,  # type: ignore[arg-type]
        )


def appear_online(
    session: Session, user_id: int, now: datetime, rules: PresenceRules = PRESENCE_RULES
) -> None:
    """Make a supervisor available for the next hour, as "Online for 1 hour" does."""
    presence.set_override(
        session=session,
        user_id=user_id,
        state="online",
        now=now,
        rules=rules,
        expires_at=now + timedelta(hours=1),
    )
