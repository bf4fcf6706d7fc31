"""Proposals: INTERN actions waiting for approval, decided exactly once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from models import (
    ActorType,
    Agent,
    Execution,
    ExecutionStatus,
    MaturityLevel,
    Proposal,
    ProposalStatus,
    SupervisionMode,
    User,
)
from services.actors import Actor
from services.agents import AgentRead
from services.audit import record_audit
from services.errors import Conflict, InvalidInput, NotFound
from services.escalation import asked_of, can_decide
from services.notifications import notify_agent
from services.users import UserRead
from services.views import ProposalRead

MAX_REASON = 2000


def _read(proposal: Proposal) -> ProposalRead:
    return ProposalRead.model_validate(proposal, from_attributes=True)


def decider_name(*, session: Session, proposal: ProposalRead) -> str:
    """Who decided: a person's name, "the AI supervisor <name>", or "" (expired, nobody)."""
    if proposal.decided_by_user_id:
        user = session.get(User, proposal.decided_by_user_id)
        return user.display_name if user else ""
    if proposal.decided_by_agent_id:
        agent = session.get(Agent, proposal.decided_by_agent_id)
        return f"the AI supervisor {agent.name}" if agent else "the AI supervisor"
    return ""


def _visible(session: Session, proposal_id: int, caller: UserRead, now: datetime) -> Proposal:
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound("no such proposal")
    if caller.role == "viewer":
        raise NotFound("no such proposal")
    if not caller.is_admin and not can_decide(
        session=session, proposal=proposal, user_id=caller.id, now=now
    ):
        raise NotFound("no such proposal")
    return proposal


def get_proposal(
    *, session: Session, proposal_id: int, caller: UserRead, now: datetime
) -> ProposalRead:
    return _read(_visible(session, proposal_id, caller, now))


def list_proposals(
    *,
    session: Session,
    supervisor_id: int | None,
    status: str | None = None,
    agent_id: int | None = None,
    risk: str | None = None,
    limit: int = 50,
    offset: int = 0,
    now: datetime,
) -> list[ProposalRead]:
    """Newest first: the ones `supervisor_id` supervises or was asked about;
    `supervisor_id=None` means every proposal (admins)."""
    query = select(Proposal)
    if supervisor_id is not None:
        query = query.where(asked_of(supervisor_id, now))
    if status:
        try:
            query = query.where(Proposal.status == ProposalStatus(status))
        except ValueError:
            raise InvalidInput(
                "status must be pending, approved, rejected or expired", field="status"
            ) from None
    if agent_id is not None:
        query = query.where(Proposal.agent_id == agent_id)
    if risk:
        query = query.where(Proposal.risk == risk)
    rows = session.exec(query.order_by(col(Proposal.id).desc()).offset(offset).limit(limit)).all()
    return [_read(r) for r in rows]


def _settle(
    session: Session,
    proposal: Proposal,
    *,
    status: ProposalStatus,
    now: datetime,
    reason: str | None,
    by_user: int | None = None,
    by_agent: int | None = None,
    approved_parameters: dict[str, Any] | None = None,
) -> bool:
    """The one conditional update that decides a proposal; False when it was already decided."""
    won = session.exec(  # type: ignore[call-overload]
        update(Proposal)
        .where(col(Proposal.id) == proposal.id, Proposal.status == ProposalStatus.PENDING)
        .values(
            status=status,
            decided_at=now,
            decision_reason=reason,
            decided_by_user_id=by_user,
            decided_by_agent_id=by_agent,
            approved_parameters=approved_parameters,
        )
    ).rowcount
    if won:
        session.refresh(proposal)
    return bool(won)


def _start_execution(
    session: Session,
    proposal: Proposal,
    now: datetime,
    supervisor_agent_id: int | None = None,
    watcher: int | None = None,
) -> Execution:
    execution = Execution(
        agent_id=proposal.agent_id,
        action=proposal.action,
        parameters=proposal.approved_parameters
        if proposal.approved_parameters is not None
        else proposal.parameters,
        reason=proposal.reason,
        status=ExecutionStatus.READY,
        supervision=SupervisionMode.AUTONOMOUS if supervisor_agent_id else SupervisionMode.HUMAN,
        supervisor_user_id=watcher or proposal.supervisor_id,
        supervisor_agent_id=supervisor_agent_id,
        proposal_id=proposal.id,
        created_at=now,
        last_seen_at=now,
    )
    session.add(execution)
    session.flush()
    proposal.execution_id = execution.id
    session.add(proposal)
    return execution


def _tell(session: Session, proposal: Proposal, now: datetime) -> None:
    """The agent learns of the decision through its callback (and `/agents/me/work`)."""
    notify_agent(
        session=session,
        agent_id=proposal.agent_id,
        event=f"proposal.{proposal.status}",
        now=now,
        payload={
            "proposal_id": proposal.id,
            "status": str(proposal.status),
            "reason": proposal.decision_reason,
            "execution_id": proposal.execution_id,
        },
    )


def approve_proposal(
    *,
    session: Session,
    proposal_id: int,
    caller: UserRead,
    now: datetime,
    modified_parameters: dict[str, Any] | None = None,
    note: str | None = None,
    via: str | None = None,
) -> ProposalRead:
    """Approve (optionally with changed parameters): the agent may start the execution.
    `via`: the notice's link it came from ("email:ops-mail"), for the audit."""
    proposal = _visible(session, proposal_id, caller, now)
    if modified_parameters is not None and not isinstance(modified_parameters, dict):
        raise InvalidInput("modified parameters must be a JSON object", field="parameters")
    if not _settle(
        session,
        proposal,
        status=ProposalStatus.APPROVED,
        now=now,
        reason=(note or "").strip()[:MAX_REASON] or None,
        by_user=caller.id,
        approved_parameters=modified_parameters,
    ):
        raise Conflict(f"proposal was already {proposal.status}")
    # Someone the chain asked in the supervisor's place (a delegate, on call) approved: they
    # watch the run. An admin's approval leaves it with the agent's supervisor.
    stand_in = not caller.is_admin and caller.id != proposal.supervisor_id
    execution = _start_execution(session, proposal, now, watcher=caller.id if stand_in else None)
    _tell(session, proposal, now)
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="proposal.approved",
        object_type="proposal",
        object_id=proposal.id,
        now=now,
        before={"status": "pending"},
        after={
            "status": "approved",
            "execution_id": execution.id,
            "modified_parameters": modified_parameters,
            **({"via": via} if via else {}),
        },
    )
    return _read(proposal)


def reject_proposal(
    *,
    session: Session,
    proposal_id: int,
    caller: UserRead,
    reason: str,
    now: datetime,
    via: str | None = None,
) -> ProposalRead:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why the proposal is rejected", field="reason")
    proposal = _visible(session, proposal_id, caller, now)
    if not _settle(
        session,
        proposal,
        status=ProposalStatus.REJECTED,
        now=now,
        reason=reason[:MAX_REASON],
        by_user=caller.id,
    ):
        raise Conflict(f"proposal was already {proposal.status}")
    _tell(session, proposal, now)
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="proposal.rejected",
        object_type="proposal",
        object_id=proposal.id,
        now=now,
        before={"status": "pending"},
        after={"status": "rejected", "reason": reason, **({"via": via} if via else {})},
    )
    return _read(proposal)


def approve_by_autonomous_supervisor(
    *, session: Session, proposal_id: int, supervisor: AgentRead, now: datetime, reason: str
) -> bool:
    """The autonomous supervisor's approval; the run it starts is watched by that supervisor.

    Checked again now, not only when the review began (a model may take a while): the
    proposal has not expired, the proposer is still enabled and not demoted to STUDENT, and
    the supervisor is still an enabled AUTONOMOUS agent of its category allowed to supervise.
    Otherwise nothing happens."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None or proposal.agent_id == supervisor.id:
        return False  # nobody approves their own request
    if proposal.expires_at <= now:
        return False
    proposer, reviewer = session.get(Agent, proposal.agent_id), session.get(Agent, supervisor.id)
    if (
        proposer is None
        or reviewer is None
        or not proposer.is_enabled
        or proposer.maturity_level == MaturityLevel.STUDENT
        or not reviewer.is_enabled
        or not reviewer.can_supervise
        or reviewer.maturity_level != MaturityLevel.AUTONOMOUS
        or reviewer.category != proposer.category
    ):
        return False
    if not _settle(
        session,
        proposal,
        status=ProposalStatus.APPROVED,
        now=now,
        reason=reason,
        by_agent=supervisor.id,
    ):
        return False
    execution = _start_execution(session, proposal, now, supervisor_agent_id=supervisor.id)
    _tell(session, proposal, now)
    record_audit(
        session=session,
        actor=Actor(ActorType.AUTONOMOUS_SUPERVISOR, supervisor.id, supervisor.name),
        action="proposal.approved",
        object_type="proposal",
        object_id=proposal.id,
        now=now,
        before={"status": "pending"},
        after={"status": "approved", "execution_id": execution.id, "reason": reason},
    )
    return True


def expire_proposals(*, session: Session, now: datetime) -> list[ProposalRead]:
    """Pending proposals past their expiry are rejected as expired (fail closed)."""
    due = session.exec(
        select(Proposal).where(
            Proposal.status == ProposalStatus.PENDING, Proposal.expires_at <= now
        )
    ).all()
    expired = []
    for proposal in due:
        if _settle(
            session,
            proposal,
            status=ProposalStatus.EXPIRED,
            now=now,
            reason="expired before anyone decided",
        ):
            record_audit(
                session=session,
                actor=Actor.system("proposals"),
                action="proposal.expired",
                object_type="proposal",
                object_id=proposal.id,
                now=now,
                before={"status": "pending"},
                after={"status": "expired"},
            )
            _tell(session, proposal, now)
            expired.append(_read(proposal))
    return expired


def withdraw_by_agent(
    *, session: Session, agent_id: int, proposal_id: int, actor: Actor, reason: str, now: datetime
) -> bool:
    """The agent gave up on its pending proposal (its caller cancelled, its wait timed out):
    nobody can approve it any more, so no run is made that nobody would start. False when it
    was decided first (the answer then says how)."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None or proposal.agent_id != agent_id:
        raise NotFound("no such proposal")
    why = (f"withdrawn by the agent: {reason}" if reason else "withdrawn by the agent")[:MAX_REASON]
    if not _settle(session, proposal, status=ProposalStatus.WITHDRAWN, now=now, reason=why):
        return False
    record_audit(
        session=session,
        actor=actor,
        action="proposal.withdrawn",
        object_type="proposal",
        object_id=proposal.id,
        now=now,
        before={"status": "pending"},
        after={"status": "withdrawn", "reason": why},
    )
    return True


def reject_at_chain_end(
    *, session: Session, proposal_id: int, now: datetime, skipped: list[str], at_once: bool
) -> bool:
    """Nobody in the escalation chain decided (`at_once`: nobody in it could be asked at all),
    and the chain ends in reject: fail closed."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        return False
    # Said to the agent too: no one's name or presence (who was skipped and why is on the
    # proposal's page and in the audit).
    reason = (
        "nobody in the escalation chain can decide it now"
        if at_once
        else "nobody in the escalation chain decided in time"
    )
    if not _settle(
        session, proposal, status=ProposalStatus.REJECTED, now=now, reason=reason[:MAX_REASON]
    ):
        return False
    record_audit(
        session=session,
        actor=Actor.system("escalation"),
        action="proposal.rejected",
        object_type="proposal",
        object_id=proposal.id,
        now=now,
        before={"status": "pending"},
        after={"status": "rejected", "reason": reason[:MAX_REASON], "skipped": skipped},
    )
    _tell(session, proposal, now)
    return True


def record_review(
    *, session: Session, proposal_id: int, review: dict[str, Any], risk: str | None
) -> None:
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound("no such proposal")
    proposal.review = review
    if risk:
        proposal.risk = risk
    session.add(proposal)
