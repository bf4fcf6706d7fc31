"""One-time links to decide a proposal from a notice: Approve, Reject, Open.

Each link is an unguessable token (256 random bits; only its SHA-256 is kept), bound to one
proposal, one action and the parameters as they were when it was sent, expiring with the step
that asked, and used at most once (a conditional update burns it in the decision's own
transaction). Any token not issued here — forged, mistyped, cut short — is simply unknown.

Opening a link only shows what it would do (mail scanners open links too); the decision is a
second, deliberate step on the page. A link to a team channel, and any link for a high-risk
action (or every link, by setting), needs its reader to sign in: a click alone never decides
a high-risk action. Whoever decides must be allowed to decide the proposal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from models import Agent, Proposal, ProposalStatus, User
from models.escalation import DecisionLink
from services import proposals
from services.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    InvalidInput,
    PermissionDenied,
)
from services.escalation import can_decide
from services.security import new_token, token_hash
from services.users import UserRead
from services.views import ProposalRead

ACTIONS = ("approve", "reject", "open")
TOKEN_PREFIX = "svl_"


class LinkRefused(DomainError):
    """The link cannot be used (unknown, used, expired, out of date); says why."""

    status_code = 410


class SignInNeeded(AuthenticationFailed):
    """The link needs its reader signed in (a team channel's, a high-risk action's)."""


def parameters_hash(parameters: dict[str, Any]) -> str:
    canonical = json.dumps(parameters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def issue_links(
    *,
    session: Session,
    proposal: Proposal,
    user_id: int | None,
    channel: str,
    expires_at: datetime,
    requires_sign_in: bool,
    now: datetime,
    site_url: str,
) -> dict[str, str]:
    """Make the three links of one notice; their URLs (the tokens exist nowhere else)."""
    urls = {}
    for action in ACTIONS:
        token = new_token(TOKEN_PREFIX)
        session.add(
            DecisionLink(
                token_hash=token_hash(token),
                proposal_id=proposal.id or 0,
                action=action,
                user_id=user_id,
                parameters_hash=parameters_hash(proposal.parameters),
                # Open shows the dashboard's own page: a sign-in, always.
                requires_sign_in=requires_sign_in or user_id is None or action == "open",
                channel=channel[:100],
                created_at=now,
                expires_at=expires_at,
            )
        )
        urls[action] = f"{site_url.rstrip('/')}/decide/{token}"
    session.flush()
    return urls


@dataclass(frozen=True)
class LinkView:
    """What a link would do, for its confirmation page."""

    action: str
    proposal_id: int
    agent: str
    proposal_action: str
    parameters: dict[str, Any]
    reason: str
    risk: str
    requires_sign_in: bool
    for_user: str  # whom it was sent to ("" for a team channel)


def _link(session: Session, token: str) -> DecisionLink:
    link = session.exec(
        select(DecisionLink).where(DecisionLink.token_hash == token_hash(token.strip()))
    ).first()
    if link is None:
        raise LinkRefused("this link is not valid: it was not sent by this dashboard")
    return link


def _check(link: DecisionLink, proposal: Proposal | None, now: datetime) -> Proposal:
    """Refuse a used, expired or out-of-date link, or one whose proposal was decided."""
    if link.used_at is not None:
        raise LinkRefused("this link was already used")
    if proposal is None:
        raise LinkRefused("this link's proposal no longer exists")
    if proposal.status != ProposalStatus.PENDING:
        raise LinkRefused(f"the proposal was already {proposal.status}; nothing was changed")
    if link.expires_at <= now:
        raise LinkRefused(
            "this link has expired (the proposal moved on to someone else, or ran out of time); "
            "open the dashboard to see where it stands"
        )
    if parameters_hash(proposal.parameters) != link.parameters_hash:
        raise LinkRefused("the proposal changed since this link was sent; open the dashboard")
    return proposal


def preview(
    *, session: Session, token: str, now: datetime, caller: UserRead | None = None
) -> LinkView:
    """What the link would do, checked as a use would be (a signed-in `caller` must be allowed
    to decide: nobody else is shown the proposal); changes nothing. An Open link only names
    its proposal, whatever became of it (the dashboard's own page says)."""
    link = _link(session, token)
    if link.action == "open":
        return LinkView("open", link.proposal_id, "", "", {}, "", "", True, "")
    proposal = _check(link, session.get(Proposal, link.proposal_id), now)
    if caller is not None:
        _require_decider(session, proposal, caller, now)
    agent = session.get(Agent, proposal.agent_id)
    user = session.get(User, link.user_id) if link.user_id else None
    return LinkView(
        action=link.action,
        proposal_id=proposal.id or 0,
        agent=agent.name if agent else "?",
        proposal_action=proposal.action,
        parameters=dict(proposal.parameters),
        reason=proposal.reason,
        risk=proposal.risk or str((proposal.chain or {}).get("risk", "unreviewed")),
        requires_sign_in=link.requires_sign_in or proposal.risk == "high",
        for_user=user.display_name if user else "",
    )


def use_link(
    *,
    session: Session,
    token: str,
    now: datetime,
    caller: UserRead | None,
    reason: str = "",
) -> ProposalRead:
    """Decide the proposal as the link says, once: by the signed-in `caller`, or (when the
    link lets a click decide) by the person it was sent to. Burnt in the same transaction."""
    link = _link(session, token)
    proposal = _check(link, session.get(Proposal, link.proposal_id), now)
    if link.action == "open":
        raise InvalidInput("this link opens the proposal; it decides nothing", field="token")
    # A click alone never decides a high-risk action, even one whose risk rose after the
    # link was sent (a review found more).
    if caller is None and (link.requires_sign_in or proposal.risk == "high"):
        raise SignInNeeded("sign in to decide this proposal")
    decider = caller
    if decider is None:
        user = session.get(User, link.user_id) if link.user_id else None
        if user is None:
            raise SignInNeeded("sign in to decide this proposal")
        decider = UserRead.model_validate(user, from_attributes=True)
    _require_decider(session, proposal, decider, now)
    if link.action == "reject" and not reason.strip():
        raise InvalidInput("say why the proposal is rejected", field="reason")
    burnt = session.execute(
        update(DecisionLink)
        .where(col(DecisionLink.id) == link.id, col(DecisionLink.used_at).is_(None))
        .values(used_at=now)
    ).rowcount
    if not burnt:
        raise Conflict("this link was already used")
    if link.action == "approve":
        return proposals.approve_proposal(
            session=session, proposal_id=proposal.id or 0, caller=decider, now=now, via=link.channel
        )
    return proposals.reject_proposal(
        session=session,
        proposal_id=proposal.id or 0,
        caller=decider,
        reason=reason,
        now=now,
        via=link.channel,
    )


def _require_decider(session: Session, proposal: Proposal, user: UserRead, now: datetime) -> None:
    """Only someone who may decide the proposal now (its supervisor, someone its chain asked,
    an admin; never a viewer or a deactivated account)."""
    if not user.may_supervise or not (
        user.is_admin or can_decide(session=session, proposal=proposal, user_id=user.id, now=now)
    ):
        raise PermissionDenied(
            f"{user.display_name} may not decide this proposal; open the link signed in as "
            "someone it asks"
        )
