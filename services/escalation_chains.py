"""Admins' escalation chains: set, read and remove, checked so that a chain can work.

A chain is kept per scope: "default" (every category without its own), "category:<name>",
or "agent:<id>" (one agent, over its category's). Proposals already under way keep the chain
they started with (services/escalation.py keeps a copy on each).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, col, select

from models import Agent
from models.escalation import EscalationChain
from services.audit import record_audit
from services.errors import InvalidInput, NotFound, PermissionDenied
from services.escalation import (
    BUILT_IN,
    DEFAULT_SCOPE,
    DEFAULT_STEP_MINUTES,
    FINALS,
    RISKS,
    STEP_KINDS,
    ChainSpec,
)
from services.users import UserRead

MAX_STEP_MINUTES = 7 * 24 * 60
STEP_LABELS = {
    "supervisor": "the agent's supervisor",
    "delegate": "their delegate while away",
    "on_call": "the category's on-call people",
    "reviewer": "the AI reviewer (its allow-list only)",
}
FINAL_LABELS = {"reject": "reject", "wait": "keep waiting until it expires"}


class ChainRead(BaseModel):
    scope: str
    label: str  # "Default", "Category sales", "Agent billing-bot"
    steps: list[str]
    final: str
    step_minutes: dict[str, int]
    built_in: bool = False

    @property
    def summary(self) -> str:
        steps = " → ".join(STEP_LABELS.get(s, s) for s in self.steps) or "nobody"
        return f"{steps} → {FINAL_LABELS.get(self.final, self.final)}"


def _label(session: Session, scope: str) -> str:
    if scope == DEFAULT_SCOPE:
        return "Default"
    kind, _, rest = scope.partition(":")
    if kind == "category":
        return f"Category {rest}"
    agent = session.get(Agent, int(rest)) if rest.isascii() and rest.isdigit() else None
    return f"Agent {agent.name}" if agent else f"Agent {rest}"


def check_scope(session: Session, scope: str) -> str:
    """A scope that names something real: "default", a category in use, or an agent."""
    scope = scope.strip()
    if scope == DEFAULT_SCOPE:
        return scope
    if len(scope) > 80:
        raise InvalidInput("a scope has at most 80 characters", field="scope")
    kind, _, rest = scope.partition(":")
    if kind == "category" and rest.strip():
        return f"category:{rest.strip()}"
    if (
        kind == "agent"
        and rest.isascii()
        and rest.isdigit()
        and session.get(Agent, int(rest)) is not None
    ):
        return scope
    raise InvalidInput(
        "scope must be 'default', 'category:<name>' or 'agent:<id>' of an existing agent",
        field="scope",
    )


def check_chain(steps: list[str], final: str, step_minutes: dict[str, int]) -> dict[str, int]:
    """Refuse chains that cannot work; the step times with the defaults filled in."""
    unknown = [s for s in steps if s not in STEP_KINDS]
    if unknown:
        raise InvalidInput(
            f"unknown step '{unknown[0]}': choose from {', '.join(STEP_KINDS)}", field="steps"
        )
    if len(set(steps)) != len(steps):
        raise InvalidInput("each step may appear once", field="steps")
    if final not in FINALS:
        raise InvalidInput("final must be 'reject' or 'wait'", field="final")
    if not steps and final == "wait":
        raise InvalidInput(
            "a chain with no steps that keeps waiting would ask nobody: add a step or reject",
            field="steps",
        )
    minutes = dict(DEFAULT_STEP_MINUTES)
    for risk, value in step_minutes.items():
        if risk not in RISKS:
            raise InvalidInput(f"step times are per risk: {', '.join(RISKS)}", field="step_minutes")
        if not isinstance(value, int) or not 1 <= value <= MAX_STEP_MINUTES:
            raise InvalidInput(
                f"a step lasts 1 to {MAX_STEP_MINUTES} minutes ({risk})", field="step_minutes"
            )
        minutes[risk] = value
    return minutes


def set_chain(
    *,
    session: Session,
    caller: UserRead,
    scope: str,
    steps: list[str],
    final: str,
    step_minutes: dict[str, int],
    now: datetime,
) -> ChainRead:
    if not caller.is_admin:
        raise PermissionDenied("only admins set escalation chains")
    scope = check_scope(session, scope)
    minutes = check_chain(steps, final, step_minutes)
    row = session.get(EscalationChain, scope)
    before = (
        {"steps": row.steps, "final": row.final, "step_minutes": row.step_minutes} if row else None
    )
    if row is None:
        row = EscalationChain(scope=scope, updated_at=now)
    row.steps, row.final, row.step_minutes = list(steps), final, minutes
    row.updated_at, row.updated_by_user_id = now, caller.id
    session.add(row)
    session.flush()
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="escalation_chain.set",
        object_type="escalation_chain",
        object_id=scope,
        now=now,
        before=before,
        after={"scope": scope, "steps": steps, "final": final, "step_minutes": minutes},
    )
    return _read(session, row)


def clear_chain(*, session: Session, caller: UserRead, scope: str, now: datetime) -> None:
    """Remove a chain: its scope follows the next one up (category, default, built-in)."""
    if not caller.is_admin:
        raise PermissionDenied("only admins set escalation chains")
    row = session.get(EscalationChain, scope.strip())
    if row is None:
        raise NotFound("no chain is set for this scope")
    session.delete(row)
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="escalation_chain.removed",
        object_type="escalation_chain",
        object_id=row.scope,
        now=now,
        before={"scope": row.scope, "steps": row.steps, "final": row.final},
    )


def list_chains(*, session: Session) -> list[ChainRead]:
    """Every chain set, the default first, then categories, then agents; the built-in chain
    when no default is set."""
    rows = session.exec(select(EscalationChain).order_by(col(EscalationChain.scope))).all()
    chains = [_read(session, row) for row in rows]
    if not any(c.scope == DEFAULT_SCOPE for c in chains):
        chains.append(built_in_read())
    order = {"default": 0, "category": 1, "agent": 2}
    return sorted(chains, key=lambda c: (order.get(c.scope.partition(":")[0], 3), c.label))


def built_in_read(spec: ChainSpec = BUILT_IN) -> ChainRead:
    return ChainRead(
        scope=DEFAULT_SCOPE,
        label="Default (built in)",
        steps=list(spec.steps),
        final=spec.final,
        step_minutes=dict(spec.step_minutes),
        built_in=True,
    )


def _read(session: Session, row: EscalationChain) -> ChainRead:
    return ChainRead(
        scope=row.scope,
        label=_label(session, row.scope),
        steps=list(row.steps),
        final=row.final,
        step_minutes={**DEFAULT_STEP_MINUTES, **row.step_minutes},
    )
