"""Escalation: who is asked about a proposal, step by step, until someone decides.

A chain (an admin's, for one agent or a category, or the built-in one) is an ordered list of
steps — the agent's supervisor, their delegate while away, the category's on-call people, the
autonomous reviewer — and a final: reject (fail closed) or keep waiting until the proposal
expires. A step lasts as long as the action's risk allows (high risk: minutes). A step nobody
can take now is skipped at once; a human step whose people all left is ended by the
escalation pass, like one whose time ran out.

Every move is one conditional update (still pending, still at the step it was read at), so two
passes, two processes or a reviewer racing the clock never move a proposal twice. Each move is
audited and told to the agent; everyone asked may decide until the proposal is decided. Nothing
here approves: the reviewer step only lets the autonomous reviewer look (services/review.py),
and the end of the chain rejects or waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from models import Agent, Proposal, ProposalStatus, User
from models.escalation import Delegation, EscalationChain, ProposalAsk
from services.actors import Actor
from services.audit import record_audit
from services.changes import note_change
from services.notifications import notify_agent
from services.on_call import (
    delegate_of,
    display_names,
    in_force,
    is_delegate_now,
    on_call_for,
)
from services.presence import PresenceRules, supervisor_is_available
from services.risk_analysis import RiskRules, assess

SUPERVISOR, DELEGATE, ON_CALL, REVIEWER = "supervisor", "delegate", "on_call", "reviewer"
STEP_KINDS = (SUPERVISOR, DELEGATE, ON_CALL, REVIEWER)
HUMAN_STEPS = frozenset({SUPERVISOR, DELEGATE, ON_CALL})
REJECT, WAIT = "reject", "wait"
FINALS = (REJECT, WAIT)
RISKS = ("high", "medium", "safe")
# The step kinds a proposal is at besides the chain's own: not started yet (a new proposal,
# or one made before chains existed), past the last step and waiting, ended by the chain.
STARTING, WAITING, ENDED = "starting", "waiting", "ended"
ADMINS = "admins"  # asked at the end of a chain that named nobody
REVIEW_DONE = "done"  # services.review.DONE: a proposal's review is over (review imports us)
DEFAULT_STEP_MINUTES = {"high": 5, "medium": 15, "safe": 60}


@dataclass(frozen=True)
class ChainSpec:
    """A chain as a proposal follows it (kept on the proposal when it starts, so an admin's
    later change does not reshuffle proposals already under way)."""

    scope: str
    steps: tuple[str, ...]
    final: str
    step_minutes: dict[str, int]
    risk: str = "high"

    def minutes(self) -> int:
        """How long each step lasts for this proposal's risk (unknown risk: as high)."""
        return int(self.step_minutes.get(self.risk, self.step_minutes.get("high", 5)))

    def as_record(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "steps": list(self.steps),
            "final": self.final,
            "step_minutes": dict(self.step_minutes),
            "risk": self.risk,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ChainSpec:
        return cls(
            scope=str(record.get("scope", "")),
            steps=tuple(record.get("steps", ())),
            final=str(record.get("final", REJECT)),
            step_minutes={k: int(v) for k, v in dict(record.get("step_minutes", {})).items()},
            risk=str(record.get("risk", "high")),
        )


# Until an admin sets a chain: everyone in turn, then the proposal keeps waiting for any of
# them until it expires (rejected as expired). A chain an admin sets rejects by default.
BUILT_IN = ChainSpec(
    scope="built-in", steps=STEP_KINDS, final=WAIT, step_minutes=dict(DEFAULT_STEP_MINUTES)
)


@dataclass(frozen=True)
class EscalationPolicy:
    presence: PresenceRules
    risk_rules: RiskRules = field(default_factory=RiskRules)


def agent_scope(agent_id: int) -> str:
    return f"agent:{agent_id}"


def category_scope(category: str) -> str:
    return f"category:{category}"


DEFAULT_SCOPE = "default"


def chain_for(*, session: Session, agent_id: int, category: str) -> ChainSpec:
    """The chain that applies to an agent: its own, its category's, the admins' default,
    or the built-in one — the first that exists."""
    scopes = [agent_scope(agent_id), category_scope(category), DEFAULT_SCOPE]
    rows = {
        row.scope: row
        for row in session.exec(
            select(EscalationChain).where(col(EscalationChain.scope).in_(scopes))
        ).all()
    }
    for scope in scopes:
        row = rows.get(scope)
        if row is not None:
            return ChainSpec(
                scope=scope,
                steps=tuple(row.steps),
                final=row.final,
                step_minutes={**DEFAULT_STEP_MINUTES, **row.step_minutes},
            )
    return BUILT_IN


@dataclass(frozen=True)
class StepPeople:
    """Who takes a step now: people (ids and names), or the reviewer, or nobody and why."""

    kind: str
    user_ids: tuple[int, ...] = ()
    names: tuple[str, ...] = ()
    reviewer: str | None = None
    skipped_because: str = ""

    @property
    def taken(self) -> bool:
        return bool(self.user_ids) or self.reviewer is not None


def _available(
    session: Session, user_ids: list[int], now: datetime, rules: PresenceRules
) -> list[int]:
    return [
        uid
        for uid in dict.fromkeys(user_ids)
        if supervisor_is_available(session=session, user_id=uid, now=now, rules=rules)
    ]


def _names(session: Session, user_ids: list[int]) -> tuple[str, ...]:
    names = display_names(session, user_ids)
    return tuple(names.get(uid, f"user {uid}") for uid in user_ids)


def available_delegate(
    *, session: Session, user_id: int, now: datetime, rules: PresenceRules
) -> int | None:
    """The delegate `user_id` named for now, if they are available: they watch supervised work
    in the supervisor's place."""
    delegate = delegate_of(session=session, user_id=user_id, now=now)
    if delegate is None or not supervisor_is_available(
        session=session, user_id=delegate, now=now, rules=rules
    ):
        return None
    return delegate


def active_admins(session: Session) -> list[int]:
    return list(
        session.exec(
            select(User.id).where(User.role == "admin", User.is_active == True)  # noqa: E712
        ).all()
    )


def people_named(*, session: Session, kind: str, agent: Agent, now: datetime) -> list[int]:
    """Everyone a human step names now, available or not."""
    if kind == SUPERVISOR:
        return [agent.supervisor_id] if agent.supervisor_id else []
    if kind == DELEGATE:
        if not agent.supervisor_id:
            return []
        delegate = delegate_of(session=session, user_id=agent.supervisor_id, now=now)
        return [delegate] if delegate else []
    if kind == ON_CALL:
        return on_call_for(session=session, category=agent.category, now=now)
    return []


def step_people(
    *, session: Session, kind: str, agent: Agent, now: datetime, rules: PresenceRules
) -> StepPeople:
    """Who would take `kind` for this agent's proposal now; nobody (with why) to skip it."""
    if kind == REVIEWER:
        from services.review import reviewer_for  # review imports escalation

        reviewer = reviewer_for(session=session, agent=agent)
        if reviewer is None:
            return StepPeople(
                kind, skipped_because=f"no enabled AI reviewer in category '{agent.category}'"
            )
        return StepPeople(kind, reviewer=reviewer)
    named = people_named(session=session, kind=kind, agent=agent, now=now)
    if not named:
        why = {
            SUPERVISOR: "the agent has no supervisor",
            DELEGATE: "no delegate named for now",
            ON_CALL: f"nobody on call for '{agent.category}' now",
        }[kind]
        return StepPeople(kind, skipped_because=why)
    available = _available(session, named, now, rules)
    if not available:
        who = ", ".join(_names(session, named))
        return StepPeople(kind, skipped_because=f"{who}: not available")
    return StepPeople(kind, user_ids=tuple(available), names=_names(session, available))


@dataclass(frozen=True)
class Move:
    """Where a proposal went: its new step (ENDED when the chain rejected it)."""

    proposal_id: int
    kind: str
    names: tuple[str, ...] = ()
    reviewer: str | None = None
    until: datetime | None = None


def _walk(
    session: Session,
    agent: Agent,
    spec: ChainSpec,
    start: int,
    now: datetime,
    rules: PresenceRules,
    reviewed: bool,
) -> tuple[int, StepPeople | None, list[str]]:
    """The first step from `start` someone can take now, and the ones skipped on the way;
    (len(steps), None, skipped) when none can. `reviewed`: the AI reviewer looked already
    (and did not approve, or the proposal would not be pending): its step is skipped."""
    skipped = []
    for index in range(start, len(spec.steps)):
        if spec.steps[index] == REVIEWER and reviewed:
            skipped.append(f"{STEP_NAMES[REVIEWER]}: it looked already and did not approve")
            continue
        people = step_people(
            session=session, kind=spec.steps[index], agent=agent, now=now, rules=rules
        )
        if people.taken:
            return index, people, skipped
        skipped.append(f"{STEP_NAMES[spec.steps[index]]}: {people.skipped_because}")
    return len(spec.steps), None, skipped


def move_on(
    *,
    session: Session,
    proposal_id: int,
    now: datetime,
    policy: EscalationPolicy,
    cause: str,
    expected_kind: str | None = None,
    announce: bool = True,
) -> Move | None:
    """Move a pending proposal to the next step someone can take (the first, if it has not
    started), or to the chain's end. Only from the step it is at now (and `expected_kind`
    when given): a proposal decided or moved meanwhile is left alone (None)."""
    proposal = session.get(Proposal, proposal_id, populate_existing=True)
    if proposal is None or proposal.status != ProposalStatus.PENDING:
        return None
    at_index, at_kind = proposal.step_index, proposal.step_kind
    if (at_kind or STARTING) in (WAITING, ENDED) or (
        expected_kind and (at_kind or STARTING) != expected_kind
    ):
        return None
    agent = session.get(Agent, proposal.agent_id)
    assert agent is not None
    starting = at_kind in (STARTING, None) or proposal.chain is None
    if starting:
        spec = chain_for(session=session, agent_id=agent.id or 0, category=agent.category)
        risk = assess(
            action=proposal.action,
            parameters=proposal.parameters,
            reason=proposal.reason,
            rules=policy.risk_rules,
        ).risk
        spec = ChainSpec(spec.scope, spec.steps, spec.final, spec.step_minutes, risk)
    else:
        spec = ChainSpec.from_record(proposal.chain or {})
    start = 0 if starting else at_index + 1
    reviewed = proposal.review_claim == REVIEW_DONE
    index, people, skipped = _walk(session, agent, spec, start, now, policy.presence, reviewed)
    if people is not None:
        kind, until = people.kind, now + timedelta(minutes=spec.minutes())
        to = list(people.names) or [people.reviewer or ""]
        asked_as = {uid: people.kind for uid in people.user_ids}
    elif spec.final == WAIT:
        kind, until, to = WAITING, None, ["everyone asked"]
        # Keep waiting for anyone the chain names, available or not: whoever comes back first;
        # with nobody named, for the admins (who may always decide).
        asked_as = {}
        for step in (s for s in spec.steps if s in HUMAN_STEPS):
            for uid in people_named(session=session, kind=step, agent=agent, now=now):
                asked_as.setdefault(uid, step)
        # Only people who can still decide (a deactivated or demoted supervisor cannot).
        deciders = set(
            session.exec(
                select(User.id).where(
                    col(User.id).in_(list(asked_as)),
                    User.is_active == True,  # noqa: E712
                    User.role != "viewer",
                )
            ).all()
        )
        asked_as = {uid: part for uid, part in asked_as.items() if uid in deciders}
        if not asked_as:
            asked_as = {uid: ADMINS for uid in active_admins(session)}
            to = ["the admins"]
    else:
        kind, until, to, asked_as = ENDED, None, [], {}
    asked = list(asked_as)
    hop = {
        "at": now.isoformat(),
        "step": kind,
        "to": to,
        "user_ids": asked,
        "until": until.isoformat() if until else None,
        "skipped": skipped,
        "cause": cause,
    }
    won = session.execute(
        update(Proposal)
        .where(
            col(Proposal.id) == proposal_id,
            Proposal.status == ProposalStatus.PENDING,
            Proposal.step_index == at_index,
            col(Proposal.step_kind).is_(None) if at_kind is None else Proposal.step_kind == at_kind,
        )
        .values(
            # The rules' risk from the start (a review may raise it): what the step time
            # followed, and what lists rank and show.
            risk=proposal.risk or (spec.risk if spec.risk in RISKS else "high"),
            chain=spec.as_record(),
            step_index=index,
            step_kind=kind,
            step_deadline=until,
            hops=[*proposal.hops, hop],
            # Leaving the reviewer step voids a review still under way: its late verdict
            # approves nothing.
            **({"review_claim": REVIEW_DONE} if at_kind == REVIEWER else {}),
        )
    ).rowcount
    if not won:
        return None
    note_change(session, f"proposal:{proposal_id}")  # open pages of it follow the move
    _ask(session, proposal_id, asked_as, now, fresh=starting)
    move = Move(
        proposal_id=proposal_id,
        kind=kind,
        names=tuple(people.names) if people else (),
        reviewer=people.reviewer if people else None,
        until=until,
    )
    if kind == ENDED:
        from services.proposals import reject_at_chain_end  # proposals imports escalation

        reject_at_chain_end(
            session=session, proposal_id=proposal_id, now=now, skipped=skipped, at_once=starting
        )
        return move
    if not starting or skipped:
        record_audit(
            session=session,
            actor=Actor.system("escalation"),
            action="proposal.escalated",
            object_type="proposal",
            object_id=proposal_id,
            now=now,
            before={"step": at_kind},
            after={
                "step": kind,
                "to": to,
                "until": hop["until"],
                "skipped": skipped,
                "cause": cause,
            },
        )
    if asked and kind != ENDED:
        from services.notices import enqueue_notices  # notices -> decision_links -> proposals

        enqueue_notices(
            session=session,
            proposal_id=proposal_id,
            user_ids=asked,
            expires_at=until or proposal.expires_at,
            now=now,
        )
    if announce and not starting:
        notify_agent(
            session=session,
            agent_id=proposal.agent_id,
            event="proposal.escalated",
            now=now,
            payload={"proposal_id": proposal_id, "step": kind, "until": hop["until"]},
        )
    return move


def _ask(
    session: Session, proposal_id: int, asked_as: dict[int, str], now: datetime, fresh: bool
) -> None:
    """Everyone asked may see and decide the proposal from now on (one row per person, with
    the part they were asked in: supervisor, delegate, on_call, admins)."""
    if not asked_as:
        return
    already = (  # a proposal's first step has asked nobody yet
        set()
        if fresh
        else set(
            session.exec(
                select(ProposalAsk.user_id).where(ProposalAsk.proposal_id == proposal_id)
            ).all()
        )
    )
    for uid, step in asked_as.items():
        if uid not in already:
            session.add(ProposalAsk(proposal_id=proposal_id, user_id=uid, step=step, asked_at=now))
    for uid, step in asked_as.items():
        if uid in already and step != DELEGATE:
            # Asked before as a delegate, now in a part of their own (on call, say): their say
            # no longer hangs on the delegation.
            session.execute(
                update(ProposalAsk)
                .where(
                    ProposalAsk.proposal_id == proposal_id,
                    ProposalAsk.user_id == uid,
                    ProposalAsk.step == DELEGATE,
                )
                .values(step=step)
            )
    session.flush()


def due_moves(
    *, session: Session, now: datetime, rules: PresenceRules, empty_chairs: bool = True
) -> list[tuple[int, str, str]]:
    """Pending proposals that must move now, with the step they are at: not started yet, past
    their step's time, or at a human step whose people are all gone (nobody waits on an empty
    chair; not with `empty_chairs` off: just after a start, before people's tabs are back).
    Each with the step it is at and why it moves, the earliest deadline first."""
    pending = session.execute(
        select(Proposal.id, Proposal.step_kind, Proposal.step_deadline, Proposal.hops)
        .where(
            Proposal.status == ProposalStatus.PENDING,
            col(Proposal.step_kind).not_in([WAITING, ENDED]) | col(Proposal.step_kind).is_(None),
        )
        .order_by(col(Proposal.step_deadline), col(Proposal.id))
    ).all()
    due = []
    for proposal_id, kind, deadline, hops in pending:
        if kind in (STARTING, None):
            due.append((proposal_id, STARTING, "new proposal"))
        elif deadline is not None and deadline <= now:
            due.append((proposal_id, kind, "nobody decided in time"))
        elif kind in HUMAN_STEPS and empty_chairs:
            asked = (hops[-1] if hops else {}).get("user_ids") or []
            if not _available(session, list(asked), now, rules):
                due.append((proposal_id, kind, "nobody at this step is available any more"))
    return due


def can_decide(*, session: Session, proposal: Proposal, user_id: int, now: datetime) -> bool:
    """Besides admins: the agent's supervisor, and everyone the chain has asked — a delegate
    only while the supervisor's delegation to them lasts (ended, their say ends with it)."""
    if proposal.supervisor_id == user_id:
        return True
    step = session.exec(
        select(ProposalAsk.step).where(
            ProposalAsk.proposal_id == proposal.id, ProposalAsk.user_id == user_id
        )
    ).first()
    if step is None:
        return False
    if step == DELEGATE:
        return proposal.supervisor_id is not None and is_delegate_now(
            session=session, user_id=proposal.supervisor_id, delegate_id=user_id, now=now
        )
    return True


def asked_of(user_id: int, now: datetime) -> Any:
    """A WHERE clause: proposals this person supervises or was asked about (as a delegate:
    while the delegation lasts), as `can_decide` says."""
    # The delegation is the one from *that proposal's* supervisor (correlated through the
    # proposal the ask belongs to, not any delegation the person holds).
    asked_about = aliased(Proposal)
    delegating = (
        select(Delegation.id)
        .where(
            Delegation.user_id == asked_about.supervisor_id,
            Delegation.delegate_id == user_id,
            in_force(now),
        )
        .exists()
    )
    asked = (
        select(ProposalAsk.proposal_id)
        .join(asked_about, asked_about.id == ProposalAsk.proposal_id)
        .where(ProposalAsk.user_id == user_id, (ProposalAsk.step != DELEGATE) | delegating)
    )
    return (Proposal.supervisor_id == user_id) | col(Proposal.id).in_(asked)


STEP_NAMES = {
    SUPERVISOR: "the agent's supervisor",
    DELEGATE: "their delegate",
    ON_CALL: "the on-call supervisors",
    REVIEWER: "the AI reviewer",
    WAITING: "waiting for everyone asked",
    ENDED: "rejected: nobody decided",
}


@dataclass(frozen=True)
class Progress:
    """Where a pending proposal stands, for people: "with Sam until 14:05", who comes next,
    and what happens if nobody decides."""

    now_with: str  # "Sam", "the AI reviewer billing-guard", "everyone asked", "" (not started)
    until: datetime | None
    next_steps: list[str]  # "their delegate", "the on-call supervisors", …
    final: str  # "rejected", "kept waiting for anyone asked", or "" when it has ended

    def sentence(self, until_text: str = "") -> str:
        """ "With Sam until 14:05, then their delegate and the AI reviewer; if nobody decides:
        rejected." (`until_text`: the deadline as the page shows times)."""
        if not self.now_with and not self.final:
            return ""
        nexts = _joined(self.next_steps)
        then = f", then {nexts}" if nexts else ""
        until = f" until {until_text}" if until_text else ""
        if not self.now_with:
            return f"Not asked yet: {nexts or 'nobody'}; if nobody decides: {self.final}."
        if self.now_with == "everyone asked":
            return "Waiting for everyone asked, until the proposal expires (then rejected)."
        return f"With {self.now_with}{until}{then}; if nobody decides: {self.final}."


def _joined(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def progress(
    *, chain: dict[str, Any] | None, step_kind: str | None, hops: list[dict[str, Any]]
) -> Progress:
    """The chain's progress from a proposal's own fields (no database)."""
    spec = ChainSpec.from_record(chain) if chain else BUILT_IN
    last = hops[-1] if hops else {}
    until = datetime.fromisoformat(last["until"]) if last.get("until") else None
    final = "rejected" if spec.final == REJECT else "kept waiting for anyone asked"
    if step_kind == ENDED:
        return Progress("", None, [], "")
    if step_kind in (STARTING, None) or not hops:
        return Progress("", None, [STEP_NAMES[s] for s in spec.steps], final)
    if step_kind == WAITING:
        return Progress("everyone asked", None, [], final)
    names = [n for n in last.get("to", []) if n]
    who = ", ".join(names) if names else STEP_NAMES.get(step_kind, step_kind)
    if step_kind == REVIEWER:
        who = f"the AI reviewer {who}".strip()
    index = spec.steps.index(step_kind) if step_kind in spec.steps else len(spec.steps)
    return Progress(who, until, [STEP_NAMES[s] for s in spec.steps[index + 1 :]], final)
