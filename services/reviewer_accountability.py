"""Is the AI reviewer right? Its verdicts set beside the humans' decisions.

Every proposal a human decides gets the reviewer's verdict too: the real one when the
reviewer looked first (its supervisor was away, then came back and decided), otherwise a
shadow review computed afterwards, which changes nothing but is recorded. Per reviewer (each
autonomous supervisor with the rules or a model) an admin then sees how often it agreed with
the humans, how many of its would-be approvals a human rejected, and the latest
disagreements: what they need to decide whether to trust it with more.

Shadow reviews are claim → act → apply like real ones: a verdict row inserted with a claim
token (one per proposal: of two workers, one inserts), the review with no transaction open,
the verdict written only while the claim holds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models import Agent, Proposal, ProposalStatus, ReviewerVerdict, User
from services.review import (
    CLAIM_LEASE,
    DONE,
    Review,
    ReviewJob,
    ReviewPolicy,
    record_verdict,
    review_job,
)

# Decisions older than this when the reviewer first could look are not reviewed in the
# shadow (an upgrade does not send the whole history to a paid model).
SHADOW_WINDOW = timedelta(days=7)
_HUMAN_DECIDED = and_(
    col(Proposal.decided_by_user_id).is_not(None),
    col(Proposal.status).in_([ProposalStatus.APPROVED, ProposalStatus.REJECTED]),
)


def proposals_to_shadow(*, session: Session, now: datetime, limit: int = 20) -> list[int]:
    """Recently human-decided proposals with no verdict yet, or whose shadow reviewer died
    holding its claim."""
    return list(
        session.exec(
            select(Proposal.id)
            .join(ReviewerVerdict, col(ReviewerVerdict.proposal_id) == Proposal.id, isouter=True)
            .where(
                _HUMAN_DECIDED,
                col(Proposal.decided_at) >= now - SHADOW_WINDOW,
                or_(
                    col(ReviewerVerdict.id).is_(None),
                    and_(
                        col(ReviewerVerdict.decision).is_(None),
                        col(ReviewerVerdict.claimed_at) < now - CLAIM_LEASE,
                    ),
                ),
            )
            .order_by(col(Proposal.id))
            .limit(limit)
        ).all()
    )


def claim_shadow_review(
    *, session: Session, proposal_id: int, now: datetime, default_allow: tuple[str, ...]
) -> ReviewJob | None:
    """Claim one shadow review: insert the proposal's verdict row with a claim token (the
    unique proposal id lets one worker in), or take over a claim whose holder died."""
    token = secrets.token_hex(8)
    existing = session.exec(
        select(ReviewerVerdict.id).where(ReviewerVerdict.proposal_id == proposal_id)
    ).first()
    if existing is None:
        try:
            with session.begin_nested():
                session.add(
                    ReviewerVerdict(
                        proposal_id=proposal_id, shadow=True, claim=token, claimed_at=now
                    )
                )
        except IntegrityError:
            return None  # another worker inserted it first
    elif not session.execute(
        update(ReviewerVerdict)
        .where(
            col(ReviewerVerdict.id) == existing,
            col(ReviewerVerdict.decision).is_(None),
            col(ReviewerVerdict.claimed_at) < now - CLAIM_LEASE,
        )
        .values(claim=token, claimed_at=now)
    ).rowcount:
        return None
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        return None
    return review_job(session=session, proposal=proposal, claim=token, default_allow=default_allow)


def apply_shadow_review(
    *, session: Session, job: ReviewJob, review: Review, now: datetime, policy: ReviewPolicy
) -> bool:
    """Record the shadow verdict while the claim holds; it decides nothing."""
    held = session.execute(
        update(ReviewerVerdict)
        .where(ReviewerVerdict.proposal_id == job.proposal_id, ReviewerVerdict.claim == job.claim)
        .values(claim=DONE)
    ).rowcount
    if held:
        record_verdict(session=session, job=job, review=review, now=now, policy=policy, shadow=True)
    return bool(held)


@dataclass(frozen=True)
class ReviewerScore:
    """One reviewer's record against the humans' decisions on the same proposals."""

    reviewer_agent_id: int
    reviewer_name: str
    reviewer: str  # "rule-based reviewer", or "llm"
    model: str | None
    verdicts: int
    compared: int  # proposals a human decided too
    agreed: int  # would approve what a human approved, or held back what a human rejected
    approvals_rejected: int  # would have approved; a human rejected (the dangerous misses)
    held_back_approved: int  # held back; a human approved (work that waited for nothing)
    auto_approved: int  # approved for real, no human involved
    last_at: datetime | None

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.compared if self.compared else None


def reviewer_scores(*, session: Session, since: datetime | None = None) -> list[ReviewerScore]:
    """Each reviewer's record (optionally since a time), most verdicts first."""
    human = _HUMAN_DECIDED
    approved = Proposal.status == ProposalStatus.APPROVED
    rejected = Proposal.status == ProposalStatus.REJECTED
    would = ReviewerVerdict.would_approve == True  # noqa: E712
    held_back = ReviewerVerdict.would_approve == False  # noqa: E712

    def count(condition: object) -> object:
        return func.sum(case((condition, 1), else_=0))

    query = (
        select(
            ReviewerVerdict.reviewer_agent_id,
            func.max(ReviewerVerdict.reviewer_name),
            ReviewerVerdict.reviewer,
            ReviewerVerdict.model,
            func.count(),
            count(human),
            count(and_(human, or_(and_(would, approved), and_(held_back, rejected)))),
            count(and_(human, would, rejected)),
            count(and_(human, held_back, approved)),
            count(and_(col(Proposal.decided_by_agent_id).is_not(None), approved)),
            func.max(ReviewerVerdict.reviewed_at),
        )
        .join(Proposal, col(Proposal.id) == ReviewerVerdict.proposal_id)
        .where(
            col(ReviewerVerdict.reviewer_agent_id).is_not(None),
            col(ReviewerVerdict.decision).is_not(None),
        )
        .group_by(
            ReviewerVerdict.reviewer_agent_id, ReviewerVerdict.reviewer, ReviewerVerdict.model
        )
    )
    if since is not None:
        query = query.where(col(ReviewerVerdict.reviewed_at) >= since)
    scores = [
        ReviewerScore(
            reviewer_agent_id=row[0],
            reviewer_name=row[1] or f"agent {row[0]}",
            reviewer=row[2] or "",
            model=row[3],
            verdicts=int(row[4] or 0),
            compared=int(row[5] or 0),
            agreed=int(row[6] or 0),
            approvals_rejected=int(row[7] or 0),
            held_back_approved=int(row[8] or 0),
            auto_approved=int(row[9] or 0),
            last_at=row[10],
        )
        for row in session.execute(query).all()
    ]
    return sorted(scores, key=lambda s: (-s.verdicts, s.reviewer_name, s.reviewer))


@dataclass(frozen=True)
class Disagreement:
    proposal_id: int
    action: str
    agent_name: str
    reviewer_name: str
    reviewer: str
    verdict: str  # the reviewer's decision
    risk: str | None
    would_approve: bool
    reason: str  # the reviewer's first reason
    human_decision: str
    human_name: str
    decided_at: datetime | None
    shadow: bool


def latest_disagreements(*, session: Session, limit: int = 10) -> list[Disagreement]:
    """The reviewer and a human decided differently: newest human decisions first."""
    rows = session.exec(
        select(ReviewerVerdict, Proposal, Agent.name, User.display_name)
        .join(Proposal, col(Proposal.id) == ReviewerVerdict.proposal_id)
        .join(Agent, col(Agent.id) == Proposal.agent_id)
        .join(User, col(User.id) == Proposal.decided_by_user_id)
        .where(
            _HUMAN_DECIDED,
            col(ReviewerVerdict.reviewer_agent_id).is_not(None),
            col(ReviewerVerdict.would_approve).is_not(None),
            or_(
                and_(
                    ReviewerVerdict.would_approve == True,  # noqa: E712
                    Proposal.status == ProposalStatus.REJECTED,
                ),
                and_(
                    ReviewerVerdict.would_approve == False,  # noqa: E712
                    Proposal.status == ProposalStatus.APPROVED,
                ),
            ),
        )
        .order_by(col(Proposal.decided_at).desc(), col(Proposal.id).desc())
        .limit(limit)
    ).all()
    return [
        Disagreement(
            proposal_id=proposal.id or 0,
            action=proposal.action,
            agent_name=agent_name,
            reviewer_name=verdict.reviewer_name or "",
            reviewer=verdict.reviewer or "",
            verdict=verdict.decision or "",
            risk=verdict.risk,
            would_approve=bool(verdict.would_approve),
            reason=(verdict.reasons or [""])[0],
            human_decision=str(proposal.status),
            human_name=human_name,
            decided_at=proposal.decided_at,
            shadow=verdict.shadow,
        )
        for verdict, proposal, agent_name, human_name in rows
    ]
