"""The autonomous supervisor: reviews a proposal when no human supervisor is available.

Selection picks an enabled AUTONOMOUS agent allowed to supervise, of the proposer's category,
whose specialties best cover the action. The review is an LLM call through LiteLLM when a model
is configured, and otherwise a rule-based reviewer that says so. Nothing but a confident, valid
"approve" of a not-high-risk action approves; every failure leaves the proposal for a human.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models import (
    ActorType,
    Agent,
    Execution,
    MaturityLevel,
    Proposal,
    ProposalStatus,
    ReviewerVerdict,
)
from services import llm, proposals
from services.actors import Actor
from services.agents import AgentRead
from services.audit import record_audit
from services.review_allow_lists import AllowList, allow_list_for, default_allow_list
from services.risk_analysis import RiskRules, assess, words_of

RULES_REVIEWER = "rule-based reviewer"


@dataclass(frozen=True)
class ReviewPolicy:
    model: str
    timeout_s: float
    confidence_threshold: float
    risk_rules: RiskRules = field(default_factory=RiskRules)
    # Action-name patterns (fnmatch, lowercase) the rule reviewer may approve; empty: actions
    # whose name starts with a looking verb (list_, get, search…).
    safe_actions: tuple[str, ...] = ()
    mock_response: str | None = None  # tests only: LiteLLM's mock_response


class LLMVerdict(BaseModel):
    """The strict JSON the model must answer with."""

    decision: Literal["approve", "reject", "escalate"]
    confidence: float = Field(ge=0, le=1)
    risk: Literal["safe", "medium", "high"]
    reasons: list[str] = Field(min_length=1)
    suggested_modifications: dict[str, Any] | None = None


@dataclass
class Review:
    reviewer: str
    decision: str
    confidence: float
    risk: str
    reasons: list[str]
    supervisor_agent_id: int | None = None
    supervisor_name: str | None = None
    selection: str = ""
    model: str | None = None
    error: str | None = None
    suggested_modifications: dict[str, Any] | None = None
    auto_approved: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        return {
            "reviewer": self.reviewer,
            "decision": self.decision,
            "confidence": self.confidence,
            "risk": self.risk,
            "reasons": self.reasons,
            "supervisor_agent_id": self.supervisor_agent_id,
            "supervisor_name": self.supervisor_name,
            "selection": self.selection,
            "model": self.model,
            "error": self.error,
            "suggested_modifications": self.suggested_modifications,
            "auto_approved": self.auto_approved,
        }


def select_supervisor(
    *, session: Session, proposer: AgentRead, action: str, parameters: dict[str, Any]
) -> tuple[AgentRead | None, str]:
    """The best-matching autonomous supervisor and why; None when nobody qualifies."""
    candidates = session.exec(
        select(Agent).where(
            Agent.category == proposer.category,
            Agent.maturity_level == MaturityLevel.AUTONOMOUS,
            Agent.can_supervise == True,  # noqa: E712
            Agent.is_enabled == True,  # noqa: E712
            col(Agent.id) != proposer.id,
        )
    ).all()
    if not candidates:
        return None, f"no enabled AUTONOMOUS supervisor in category '{proposer.category}'"
    named = [action, *map(str, parameters)]
    wanted = {word for text in named for word in words_of(text)} | set(proposer.specialties)
    scored = sorted(
        ((len(wanted & set(c.specialties)), -(c.id or 0), c) for c in candidates),
        key=lambda t: (t[0], t[1]),
        reverse=True,
    )
    score, _, best = scored[0]
    chosen = AgentRead.model_validate(best, from_attributes=True)
    why = (
        f"category '{proposer.category}'; {score} matching specialties "
        f"({', '.join(sorted(wanted & set(best.specialties))) or 'none'}); "
        f"{len(candidates)} candidate(s), ties broken by lowest id"
    )
    return chosen, why


def reviewer_for(*, session: Session, agent: Agent) -> str | None:
    """The name of an AI reviewer that could review this agent's proposals now (escalation's
    reviewer step is skipped without one)."""
    proposer = AgentRead.model_validate(agent, from_attributes=True)
    chosen, _ = select_supervisor(session=session, proposer=proposer, action="", parameters={})
    return chosen.name if chosen else None


def classify_risk(
    action: str, parameters: dict[str, Any], policy: ReviewPolicy, reason: str = ""
) -> tuple[str, list[str]]:
    """The rules' risk of an action, whatever its name (services/risk_analysis.py)."""
    assessment = assess(
        action=action, parameters=parameters, reason=reason, rules=policy.risk_rules
    )
    return assessment.risk, assessment.reasons()


def rule_review(
    action: str,
    parameters: dict[str, Any],
    policy: ReviewPolicy,
    reason: str = "",
    allow: AllowList | None = None,
) -> Review:
    """No LLM configured: approve only an action on the category's allow-list in which no
    risk rule fires (action, parameters, reason); everything else goes to a human, with the
    reasons."""
    allow = allow or default_allow_list("", policy.safe_actions)
    risk, reasons = classify_risk(action, parameters, policy, reason)
    allowed = allow.allows(action)
    if not allowed:
        where = f"category '{allow.category}'" if allow.category else "the default"
        reasons = [
            f"'{action}' is not on the allow-list of {where} ({allow.describe()})",
            *reasons,
        ]
    decision = "approve" if risk == "safe" and allowed else "escalate"
    return Review(
        reviewer=RULES_REVIEWER,
        decision=decision,
        confidence=1.0 if decision == "approve" else 0.0,
        risk=risk,
        reasons=reasons,
    )


SYSTEM_PROMPT = (
    "You review an action that an AI agent proposes, for its human supervisors who are away. "
    + llm.UNTRUSTED_NOTE
    + " The proposal (the agent's action name, parameters and reason) is between the markers; "
    "what the rule-based checks found follows outside them. "
    "Answer with JSON only, no prose: "
    '{"decision": "approve"|"reject"|"escalate", "confidence": number 0..1, '
    '"risk": "safe"|"medium"|"high", "reasons": [strings], '
    '"suggested_modifications": object or null}. '
    "Approve only what is plainly harmless; escalate whenever you are unsure."
)


def review_prompt(job: ReviewJob, rules_findings: list[str]) -> str:
    """The user message: the agent's words quoted as JSON between markers it cannot forge
    (a random tag per review), then the rules' findings, outside them."""
    proposal = json.dumps(
        {
            "agent": {
                "name": job.proposer.name,
                "category": job.proposer.category,
                "specialties": job.proposer.specialties,
                "level": job.proposer.maturity_level,
                "record": job.history,
            },
            "action": job.action,
            "parameters": job.parameters,
            "reason": job.reason,
        },
        indent=2,
        default=str,
        ensure_ascii=True,  # no look-alike letters or invisible characters reach the model raw
    )
    findings = json.dumps(rules_findings, ensure_ascii=True)
    return (
        f"{llm.quote_untrusted('PROPOSAL', proposal)}\n\n"
        "What the rule-based checks found, as a JSON list (the places they name are the "
        f"agent's own keys, shortened):\n{findings}"
    )


def parse_verdict(raw: str) -> LLMVerdict:
    text = raw.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    return LLMVerdict.model_validate(json.loads(text))


def llm_review(job: ReviewJob, policy: ReviewPolicy, rules_findings: list[str]) -> Review:
    try:
        raw = llm.complete_json(
            model=policy.model,
            system=SYSTEM_PROMPT,
            user=review_prompt(job, rules_findings),
            timeout=policy.timeout_s,
            mock_response=policy.mock_response,
        )
        verdict = parse_verdict(raw)
    except llm.LLMUnavailable as error:
        return Review(
            reviewer="llm",
            decision="escalate",
            confidence=0.0,
            risk="unknown",
            reasons=["the LLM did not answer"],
            model=policy.model,
            error=str(error)[:500],
        )
    except (ValueError, ValidationError) as error:
        return Review(
            reviewer="llm",
            decision="escalate",
            confidence=0.0,
            risk="unknown",
            reasons=["the LLM's answer was not valid JSON of the expected shape"],
            model=policy.model,
            error=str(error)[:500],
        )
    return Review(
        reviewer="llm",
        decision=verdict.decision,
        confidence=verdict.confidence,
        risk=verdict.risk,
        reasons=verdict.reasons,
        model=policy.model,
        suggested_modifications=verdict.suggested_modifications,
    )


def _history(session: Session, agent_id: int) -> dict[str, int]:
    runs = session.exec(select(Execution.status).where(Execution.agent_id == agent_id)).all()
    counts: dict[str, int] = {}
    for status in runs:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


# A claim outlives the slowest review (LLM_TIMEOUT_S is far below it); a reviewer that died
# holding one loses it after this, and the proposal is reviewed again.
CLAIM_LEASE = timedelta(minutes=5)
DONE = "done"


@dataclass(frozen=True)
class ReviewJob:
    """What a review needs, read when the proposal was claimed: nothing bound to a session."""

    proposal_id: int
    claim: str
    action: str
    parameters: dict[str, Any]
    reason: str
    risk: str | None
    proposer: AgentRead
    supervisor: AgentRead | None
    selection: str
    history: dict[str, int]
    allow: AllowList


def claim_review(
    *,
    session: Session,
    proposal_id: int,
    now: datetime,
    again: bool = False,
    default_allow: tuple[str, ...] = (),
) -> ReviewJob | None:
    """Claim a pending proposal for one review (a conditional update: of two workers, one
    wins); None when it is decided, reviewed already (unless `again`), or under review.
    `default_allow`: the allow-list of categories no admin configured (REVIEW_SAFE_ACTIONS)."""
    token = secrets.token_hex(8)
    free = or_(
        col(Proposal.review_claim).is_(None),
        and_(
            col(Proposal.review_claim) != DONE, col(Proposal.review_claimed_at) < now - CLAIM_LEASE
        ),
    )
    if again:
        free = or_(free, col(Proposal.review_claim) == DONE)
    won = session.execute(
        update(Proposal)
        .where(col(Proposal.id) == proposal_id, Proposal.status == ProposalStatus.PENDING, free)
        .values(review_claim=token, review_claimed_at=now)
    ).rowcount
    if not won:
        return None
    proposal = session.get(Proposal, proposal_id, populate_existing=True)
    assert proposal is not None
    return review_job(session=session, proposal=proposal, claim=token, default_allow=default_allow)


def review_job(
    *, session: Session, proposal: Proposal, claim: str, default_allow: tuple[str, ...]
) -> ReviewJob:
    """Everything a review of `proposal` needs, read now, so the review itself needs no
    session (a real review, or a shadow review after a human decided)."""
    proposer = AgentRead.model_validate(session.get(Agent, proposal.agent_id), from_attributes=True)
    supervisor, why = select_supervisor(
        session=session, proposer=proposer, action=proposal.action, parameters=proposal.parameters
    )
    return ReviewJob(
        proposal_id=proposal.id or 0,
        claim=claim,
        action=proposal.action,
        parameters=dict(proposal.parameters),
        reason=proposal.reason,
        risk=proposal.risk,
        proposer=proposer,
        supervisor=supervisor,
        selection=why,
        history=_history(session, proposer.id),
        allow=allow_list_for(
            session=session, category=proposer.category, default_patterns=default_allow
        ),
    )


def _claimable(now: datetime) -> Any:
    return or_(
        col(Proposal.review_claim).is_(None),
        and_(
            col(Proposal.review_claim) != DONE,
            col(Proposal.review_claimed_at) < now - CLAIM_LEASE,
        ),
    )


def release_claim(*, session: Session, job: ReviewJob) -> None:
    """The review failed before a verdict: the proposal may be claimed again at once."""
    session.execute(
        update(Proposal)
        .where(col(Proposal.id) == job.proposal_id, Proposal.review_claim == job.claim)
        .values(review_claim=None, review_claimed_at=None)
    )


def waiting_for_review(*, session: Session, now: datetime) -> list[int]:
    """Proposals at their chain's reviewer step that no review has claimed, or whose reviewer
    died holding the claim."""
    return list(
        session.exec(
            select(Proposal.id).where(
                Proposal.status == ProposalStatus.PENDING,
                Proposal.step_kind == "reviewer",
                _claimable(now),
            )
        ).all()
    )


def decide(job: ReviewJob, policy: ReviewPolicy) -> Review:
    """The review itself: the model (when configured) or the rules. Takes no session, so it
    runs with no transaction open and no database lock held, however long the model takes."""
    if job.supervisor is None:
        return Review(
            reviewer="none",
            decision="escalate",
            confidence=0.0,
            risk=job.risk or "unknown",
            reasons=[job.selection],
            selection=job.selection,
        )
    if policy.model:
        review = llm_review(job, policy, _rules_findings(job, policy))
        hold_back_unless_declared_safe(review, job, policy)
    else:
        review = rule_review(job.action, job.parameters, policy, job.reason, job.allow)
    review.supervisor_agent_id = job.supervisor.id
    review.supervisor_name = job.supervisor.name
    review.selection = job.selection
    return review


_SEVERITY = {"safe": 0, "medium": 1, "high": 2, "unknown": 3}


def _rules_findings(job: ReviewJob, policy: ReviewPolicy) -> list[str]:
    """What the model is told the rules found."""
    _, reasons = classify_risk(job.action, job.parameters, policy, job.reason)
    if not job.allow.allows(job.action):
        reasons = [f"not on the allow-list ({job.allow.describe()})", *reasons]
    return reasons


def hold_back_unless_declared_safe(review: Review, job: ReviewJob, policy: ReviewPolicy) -> None:
    """The model is a second opinion, never a way round the rules: an action off the
    category's allow-list, or one any risk rule flags, is not approved whatever the model
    says, and the recorded risk is the higher of the two."""
    rules_risk, rules_reasons = classify_risk(job.action, job.parameters, policy, job.reason)
    review.risk = max(review.risk, rules_risk, key=lambda risk: _SEVERITY.get(risk, 3))
    held: list[str] = []
    if not job.allow.allows(job.action):
        held.append(f"rules: '{job.action}' is not on the allow-list ({job.allow.describe()})")
    if rules_risk != "safe":
        held.extend(f"rules: {reason}" for reason in rules_reasons)
    if held:
        review.reasons = [*review.reasons, *held]
        if review.decision == "approve":
            review.decision = "escalate"


def apply_review(
    *, session: Session, job: ReviewJob, review: Review, now: datetime, policy: ReviewPolicy
) -> Review:
    """Record the verdict, and approve on a confident, valid, not-high-risk approve, only while
    this worker still holds the claim; a human who decided meanwhile wins (nothing changes)."""
    ours = (col(Proposal.id) == job.proposal_id, Proposal.review_claim == job.claim)
    held = session.execute(
        update(Proposal)
        .where(*ours, Proposal.status == ProposalStatus.PENDING)
        .values(review_claim=DONE)
    ).rowcount
    if not held:
        # Decided by a human meanwhile (their record stays as they left it; the verdict is
        # kept beside it, for the reviewer's accountability), or the claim was taken over.
        if session.execute(update(Proposal).where(*ours).values(review_claim=DONE)).rowcount:
            record_verdict(session=session, job=job, review=review, now=now, policy=policy)
        return review
    supervisor = job.supervisor
    if would_approve(review, policy, supervisor) and supervisor is not None:
        reason = f"approved by {supervisor.name} ({review.reviewer}): " + "; ".join(review.reasons)
        review.auto_approved = proposals.approve_by_autonomous_supervisor(
            session=session,
            proposal_id=job.proposal_id,
            supervisor=supervisor,
            now=now,
            reason=reason[:2000],
        )
    record_verdict(session=session, job=job, review=review, now=now, policy=policy)
    proposals.record_review(
        session=session,
        proposal_id=job.proposal_id,
        review=review.as_record(),
        risk=review.risk if review.risk in ("safe", "medium", "high") else None,
    )
    if supervisor is not None:
        record_audit(
            session=session,
            actor=Actor(ActorType.AUTONOMOUS_SUPERVISOR, supervisor.id, supervisor.name),
            action="proposal.reviewed",
            object_type="proposal",
            object_id=job.proposal_id,
            now=now,
            after={
                k: v
                for k, v in review.as_record().items()
                if k in ("reviewer", "decision", "confidence", "risk", "auto_approved", "error")
            },
        )
    return review


def would_approve(review: Review, policy: ReviewPolicy, supervisor: AgentRead | None) -> bool:
    """What approves: a supervisor, no error, decision approve, confidence at or above the
    threshold, and a risk that is not high (the rules' high already overrode the model's)."""
    return (
        supervisor is not None
        and review.error is None
        and review.decision == "approve"
        and review.confidence >= policy.confidence_threshold
        and review.risk in ("safe", "medium")
    )


def record_verdict(
    *,
    session: Session,
    job: ReviewJob,
    review: Review,
    now: datetime,
    policy: ReviewPolicy,
    shadow: bool = False,
) -> None:
    """Keep the reviewer's verdict on a proposal (one per proposal; a review asked for again
    replaces it) so it can be set beside the human decision. A real review that found no
    reviewer keeps nothing: a shadow review may find one once a human has decided."""
    supervisor = job.supervisor
    if supervisor is None and not shadow:
        return
    row = _verdict_row(session, job.proposal_id)
    row.shadow = shadow
    row.reviewer_agent_id = supervisor.id if supervisor else None
    row.reviewer_name = supervisor.name if supervisor else None
    row.reviewer = review.reviewer
    row.model = review.model
    row.decision = review.decision
    row.risk = review.risk
    row.confidence = review.confidence
    row.would_approve = would_approve(review, policy, supervisor)
    row.reasons = [reason[:300] for reason in review.reasons[:20]]
    row.error = (review.error or "")[:500] or None
    row.claim = DONE
    row.reviewed_at = now
    session.add(row)


def _verdict_row(session: Session, proposal_id: int) -> ReviewerVerdict:
    """The proposal's verdict row, created if there is none (a shadow review may insert one
    at the same moment: then that one is taken)."""
    query = select(ReviewerVerdict).where(ReviewerVerdict.proposal_id == proposal_id)
    row = session.exec(query).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = ReviewerVerdict(proposal_id=proposal_id)
            session.add(row)
        return row
    except IntegrityError:
        return session.exec(query.execution_options(populate_existing=True)).one()
