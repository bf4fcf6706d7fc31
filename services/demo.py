"""Demo data: a small team and agents at every level in two categories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from models import Agent, EscalationChain, User
from services import agents as agent_service
from services import escalation_chains, on_call
from services import users as user_service
from services.actors import Actor
from services.users import UserRead

DEMO_PASSWORD = "demo-password"

DEMO_USERS = [
    ("admin", "Ada Admin", "admin"),
    ("sam", "Sam Supervisor", "supervisor"),
    ("riley", "Riley Reviewer", "supervisor"),
    ("vic", "Vic Viewer", "viewer"),
]

# name, category, level, supervisor username, specialties, can supervise, description
DEMO_AGENTS = [
    ("intake-student", "support", "STUDENT", "sam", ["triage"], False, "Learns to triage tickets"),
    (
        "refund-intern",
        "support",
        "INTERN",
        "sam",
        ["refunds", "payments"],
        False,
        "Proposes refunds",
    ),
    ("reply-bot", "support", "SUPERVISED", "sam", ["email", "replies"], False, "Answers customers"),
    (
        "support-lead",
        "support",
        "AUTONOMOUS",
        "sam",
        ["refunds", "email", "triage"],
        True,
        "Reviews support work",
    ),
    ("etl-intern", "data", "INTERN", "riley", ["etl", "sql"], False, "Proposes data loads"),
    (
        "report-writer",
        "data",
        "SUPERVISED",
        "riley",
        ["reports", "charts"],
        False,
        "Builds reports",
    ),
    (
        "data-steward",
        "data",
        "AUTONOMOUS",
        "riley",
        ["etl", "sql", "reports"],
        True,
        "Reviews data work",
    ),
]


def sign_in_hint() -> str:
    """What the demo's sign-in page and `make demo` say about the accounts."""
    others = ", ".join(
        f"{username} ({role})" for username, _name, role in DEMO_USERS if username != "admin"
    )
    return f"Demo: sign in as admin / {DEMO_PASSWORD}; also {others}, same password."


@dataclass
class DemoAgentKey:
    name: str
    level: str
    api_key: str


def load_demo_data(*, session: Session, now: datetime) -> list[DemoAgentKey]:
    """Create the demo team and agents that do not exist yet; return keys of new agents.

    Existing demo agents get a fresh key so a restarted simulator can act for them again.
    """
    actor = Actor.system("demo loader")
    users: dict[str, int] = {}
    for username, display_name, role in DEMO_USERS:
        existing = session.exec(select(User).where(User.username == username)).first()
        if existing is None:
            created = user_service.create_user(
                session=session,
                username=username,
                display_name=display_name,
                password=DEMO_PASSWORD,
                role=role,
                now=now,
                actor=actor,
            )
            users[username] = created.id
        else:
            users[username] = existing.id or 0
    keys = []
    for name, category, level, supervisor, specialties, can_supervise, description in DEMO_AGENTS:
        existing_agent = session.exec(select(Agent).where(Agent.name == name)).first()
        if existing_agent is None:
            credentials = agent_service.create_agent(
                session=session,
                name=name,
                category=category,
                maturity_level=level,
                supervisor_id=users[supervisor],
                specialties=specialties,
                can_supervise=can_supervise,
                description=description,
                now=now,
                actor=actor,
            )
        else:
            credentials = agent_service.rotate_agent_key(
                session=session, agent_id=existing_agent.id or 0, now=now, actor=actor
            )
        keys.append(DemoAgentKey(name=name, level=level, api_key=credentials.api_key))
    _escalation(session, users, now)
    return keys


def _escalation(session: Session, users: dict[str, int], now: datetime) -> None:
    """Support's chain, with Riley on call for support around the clock: Sam's refund
    proposals go to Riley when Sam is away or does not answer in time, and then wait for
    either (a demo nobody has signed in to yet would otherwise reject every one)."""
    if session.get(EscalationChain, "category:support") is not None:
        return
    admin = UserRead.model_validate(session.get(User, users["admin"]), from_attributes=True)
    escalation_chains.set_chain(
        session=session,
        caller=admin,
        scope="category:support",
        steps=["supervisor", "delegate", "on_call", "reviewer"],
        final="wait",
        step_minutes={"high": 5, "medium": 15, "safe": 60},
        now=now,
    )
    on_call.add_shift(
        session=session,
        caller=admin,
        category="support",
        user_id=users["riley"],
        weekdays=list(range(7)),
        start="00:00",
        end="24:00",
        timezone="UTC",
        now=now,
    )
