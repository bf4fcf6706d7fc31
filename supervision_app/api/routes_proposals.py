"""Proposal review for supervisors; the autonomous review on demand."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services import proposals
from services.autonomous_review import run_review
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.errors import Conflict, NotFound, PermissionDenied
from services.json_limits import JsonObject
from services.views import ProposalRead
from supervision_app.api.auth import UserDep
from supervision_app.api.schemas import StrictBody

router = APIRouter(prefix="/api/supervision/proposals", tags=["proposals"])


class ApproveBody(StrictBody):
    parameters: JsonObject | None = Field(
        default=None, description="approve with these parameters instead"
    )
    note: str | None = Field(default=None, max_length=2000)


class RejectBody(StrictBody):
    reason: str = Field(min_length=1, max_length=2000)


class ReviewResult(BaseModel):
    review: dict[str, Any]
    proposal: ProposalRead


def _deciding_user(caller) -> None:  # noqa: ANN001
    if caller.role == "viewer":
        raise PermissionDenied("viewers cannot decide proposals")


@router.get("")
def list_proposals(
    caller: UserDep,
    status: str | None = Query(default=None, max_length=16),
    agent_id: int | None = None,
    risk: str | None = Query(default=None, max_length=16),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0),
) -> list[ProposalRead]:
    """Proposals for me (newest first), or all for admins."""
    if caller.role == "viewer":
        return []
    with read_scope() as session:
        return proposals.list_proposals(
            session=session,
            supervisor_id=None if caller.is_admin else caller.id,
            status=status,
            agent_id=agent_id,
            risk=risk,
            limit=limit,
            offset=offset,
            now=utcnow(),
        )


@router.get("/{proposal_id}")
def get_proposal(proposal_id: int, caller: UserDep) -> ProposalRead:
    with read_scope() as session:
        return proposals.get_proposal(
            session=session, proposal_id=proposal_id, caller=caller, now=utcnow()
        )


@router.post("/{proposal_id}/approve")
def approve(proposal_id: int, body: ApproveBody, caller: UserDep) -> ProposalRead:
    """Approve, optionally with modified parameters; decided once (a second decision is 409)."""
    _deciding_user(caller)
    with session_scope() as session:
        return proposals.approve_proposal(
            session=session,
            proposal_id=proposal_id,
            caller=caller,
            now=utcnow(),
            modified_parameters=body.parameters,
            note=body.note,
        )


@router.post("/{proposal_id}/reject")
def reject(proposal_id: int, body: RejectBody, caller: UserDep) -> ProposalRead:
    _deciding_user(caller)
    with session_scope() as session:
        return proposals.reject_proposal(
            session=session,
            proposal_id=proposal_id,
            caller=caller,
            reason=body.reason,
            now=utcnow(),
        )


@router.post("/{proposal_id}/autonomous-approve")
def autonomous_review(proposal_id: int, caller: UserDep) -> ReviewResult:
    """Run the autonomous supervisor's review now; it approves only when confident and safe."""
    _deciding_user(caller)
    with read_scope() as session:
        proposals.get_proposal(
            session=session, proposal_id=proposal_id, caller=caller, now=utcnow()
        )
    result = run_review(proposal_id, again=True)
    if result is None:
        raise Conflict("the proposal is decided, or its review is under way")
    with read_scope() as session:
        proposal = proposals.get_proposal(
            session=session, proposal_id=proposal_id, caller=caller, now=utcnow()
        )
    if proposal is None:
        raise NotFound("no such proposal")
    return ReviewResult(review=result.as_record(), proposal=proposal)
