"""Units of work that run in their own transaction: the one hook presence calls when a
supervisor becomes available, and the scheduler's safety-net passes."""

from __future__ import annotations

import logging
from datetime import datetime

from models import Proposal, ProposalStatus
from services import (
    notifications,
    presence,
    presence_transitions,
    proposals,
    queue,
    review,
    run_liveness,
    run_monitor,
)
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.policy import (
    liveness_policy,
    monitor_policy,
    presence_rules,
    queue_policy,
    review_policy,
)
from services.queue import Dispatched

logger = logging.getLogger(__name__)


def dispatch_supervisor_work(supervisor_id: int, limit: int | None = None) -> list[Dispatched]:
    """Start the queued work of a supervisor who is available now (no-op otherwise)."""
    with read_scope() as session:  # most returning supervisors have nothing waiting: no write lock
        if not queue.has_pending(session=session, supervisor_id=supervisor_id):
            return []
    with session_scope() as session:
        dispatched = queue.dispatch_for_supervisor(
            session=session,
            supervisor_id=supervisor_id,
            now=utcnow(),
            policy=queue_policy(),
            limit=limit,
        )
    if dispatched:
        logger.info(
            "dispatched %d queued entries for supervisor %d", len(dispatched), supervisor_id
        )
    return dispatched


def dispatch_for_returning_supervisors(supervisor_ids: set[int]) -> list[Dispatched]:
    """Many supervisors just became available (a burst of heartbeats): one query finds
    those with work waiting, and only theirs is dispatched."""
    with read_scope() as session:
        waiting = queue.pending_among(session=session, supervisor_ids=supervisor_ids)
    dispatched: list[Dispatched] = []
    for supervisor_id in sorted(waiting):
        dispatched.extend(dispatch_supervisor_work(supervisor_id))
    return dispatched


def dispatch_all_available(limit: int | None = None) -> list[Dispatched]:
    """Start queued work of every available supervisor (at most `limit` entries each)."""
    with read_scope() as session:
        supervisors = queue.supervisors_with_pending(session=session, now=utcnow())
    dispatched: list[Dispatched] = []
    for supervisor_id in supervisors:
        dispatched.extend(dispatch_supervisor_work(supervisor_id, limit))
    return dispatched


def run_presence_transitions() -> list[int]:
    """Move users between states on time; dispatch for anyone who became available."""
    with session_scope() as session:
        presence.end_stale_tabs(session=session, now=utcnow(), rules=presence_rules())
        presence.settle_closed_tabs(session=session, now=utcnow(), rules=presence_rules())
    with session_scope() as session:
        became_available = presence_transitions.apply_presence_transitions(
            session=session, now=utcnow(), rules=presence_rules()
        )
    for user_id in became_available:
        dispatch_supervisor_work(user_id)
    return became_available


def end_lost_runs(listening_since: datetime | None = None) -> list[int]:
    """End runs nobody heard from past the lost threshold (their queue entries follow).

    Not in the first lost window after `listening_since` (the process's start): agents that
    could not reach a stopped app get a full window to come back before their runs end.
    """
    now, policy = utcnow(), liveness_policy()
    if listening_since is not None and now - listening_since < policy.lost_after:
        return []
    with read_scope() as session:  # most passes find nothing: no write lock for them
        silent = run_liveness.silent_runs(session=session, now=now, policy=policy)
    ended = []
    for execution_id in silent:  # one short transaction each: a live run is not held long
        with session_scope() as session:
            if run_liveness.end_if_lost(
                session=session, execution_id=execution_id, now=utcnow(), policy=policy
            ):
                ended.append(execution_id)
    return ended


def expire_queue() -> int:
    with session_scope() as session:
        return len(queue.mark_expired(session=session, now=utcnow()))


def review_if_unattended(proposal_id: int) -> review.Review | None:
    """Fallback review of a new proposal when its human supervisor is not available."""
    with read_scope() as session:
        proposal = session.get(Proposal, proposal_id)
        if proposal is None or proposal.status != ProposalStatus.PENDING:
            return None
        if proposal.supervisor_id is not None and presence.supervisor_is_available(
            session=session, user_id=proposal.supervisor_id, now=utcnow(), rules=presence_rules()
        ):
            return None
    return run_review(proposal_id)


def run_review(proposal_id: int, *, again: bool = False) -> review.Review | None:
    """One autonomous review as claim → act → apply: the claim and the verdict are short
    transactions; the model is called between them with no transaction open, so a slow model
    holds no lock. None when the proposal is decided, reviewed (unless `again`) or under
    review by another worker."""
    policy = review_policy()
    with session_scope() as session:
        job = review.claim_review(
            session=session, proposal_id=proposal_id, now=utcnow(), again=again
        )
    if job is None:
        return None
    try:
        verdict = review.decide(job, policy)
    except Exception:
        with session_scope() as session:
            review.release_claim(session=session, job=job)
        raise
    with session_scope() as session:
        return review.apply_review(
            session=session, job=job, review=verdict, now=utcnow(), policy=policy
        )


def review_waiting_proposals() -> int:
    """Safety net: review pending proposals nobody reviewed (or whose reviewer died)."""
    with read_scope() as session:
        waiting = review.waiting_for_review(session=session, now=utcnow())
    for proposal_id in waiting:
        try:
            review_if_unattended(proposal_id)
        except Exception:  # noqa: BLE001 - one failed review must not stop the others
            logger.exception("review of proposal %d failed; it stays for a human", proposal_id)
    return len(waiting)


def expire_proposals() -> int:
    with session_scope() as session:
        return len(proposals.expire_proposals(session=session, now=utcnow()))


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    import httpx

    return httpx.post(url, content=body, headers=headers, timeout=5.0).status_code


def deliver_notifications(post: notifications.Poster = _post) -> int:
    """Send due callback notifications; each is recorded, delivered or retried with backoff."""
    with session_scope() as session:
        due = notifications.claim_due(session=session, now=utcnow())
    for delivery in due:
        status, error = None, None
        try:
            status = post(delivery.url, delivery.body, delivery.headers)
        except Exception as failure:  # noqa: BLE001 - any network failure is retried
            error = f"{type(failure).__name__}: {failure}"
        with session_scope() as session:
            notifications.record_result(
                session=session, delivery=delivery, now=utcnow(), status=status, error=error
            )
    return len(due)


def monitor_autonomous_runs() -> int:
    """One batched LLM look at the new events of each autonomously supervised run."""
    policy = monitor_policy()
    if not policy.model:
        return 0  # the rules already checked every batch as it arrived
    with read_scope() as session:
        watched = run_monitor.watched_runs(session=session)
    for execution_id in watched:
        with session_scope() as session:
            batch = run_monitor.claim_batch(session=session, execution_id=execution_id)
        if batch is None:
            continue
        verdict = run_monitor.judge_batch(batch, policy)  # no transaction open
        with session_scope() as session:
            run_monitor.apply_verdict(session=session, batch=batch, verdict=verdict, now=utcnow())
    return len(watched)
