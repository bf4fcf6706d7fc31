"""The AI supervisor's work: reviews of proposals nobody is there to decide, and batched looks
at the runs it watches. Each is claim → act → apply: a short transaction claims the work, the
model is called with no transaction open and no lock held, and another short transaction
applies the verdict only if the claim still holds (a human who decided meanwhile wins)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from models import Proposal, ProposalStatus
from services import escalation, review, reviewer_accountability, run_monitor
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.policy import escalation_policy, monitor_policy, review_policy

logger = logging.getLogger(__name__)

# Reviews of new proposals run here, a few at a time, not in the web server's thread pool:
# a burst of proposals with a slow model would otherwise take every thread the API's plain
# routes need. A few more may wait; past that a proposal is left to the scheduler's review
# pass (every minute), so a burst never queues unbounded work (or holds up a shutdown).
REVIEW_WORKERS = 4
_review_pool = ThreadPoolExecutor(max_workers=REVIEW_WORKERS, thread_name_prefix="review")
_review_slots = threading.BoundedSemaphore(REVIEW_WORKERS * 2)


def schedule_review(proposal_id: int) -> None:
    """Review a proposal soon, in the review pool, if its chain is at the AI reviewer;
    returns at once."""
    if not _review_slots.acquire(blocking=False):
        logger.info("review pool busy: proposal %d waits for the review pass", proposal_id)
        return
    try:
        future = _review_pool.submit(_review_logged, proposal_id)
    except RuntimeError:  # shutting down: the next start's review pass takes it
        _review_slots.release()
        return
    future.add_done_callback(lambda _done: _review_slots.release())


def stop_reviews() -> None:
    """At shutdown: reviews not started yet are dropped (the next start's pass takes them)."""
    _review_pool.shutdown(wait=False, cancel_futures=True)


def _review_logged(proposal_id: int) -> None:
    try:
        review_if_unattended(proposal_id)
    except Exception:  # noqa: BLE001 - the proposal stays for a human; the pass retries it
        logger.exception("review of proposal %d failed; it stays for a human", proposal_id)


def review_if_unattended(proposal_id: int) -> review.Review | None:
    """Review a proposal its escalation chain has brought to the AI reviewer (no human took
    it in time, or none could); None for a proposal at any other step."""
    with read_scope() as session:
        proposal = session.get(Proposal, proposal_id)
        if proposal is None or proposal.status != ProposalStatus.PENDING:
            return None
        if proposal.step_kind != escalation.REVIEWER:
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
            session=session,
            proposal_id=proposal_id,
            now=utcnow(),
            again=again,
            default_allow=policy.safe_actions,
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
        applied = review.apply_review(
            session=session, job=job, review=verdict, now=utcnow(), policy=policy
        )
        if not applied.auto_approved:
            # The reviewer did not approve: the chain goes on at once (to the final step,
            # reject or wait, when the reviewer was the last).
            escalation.move_on(
                session=session,
                proposal_id=proposal_id,
                now=utcnow(),
                policy=escalation_policy(),
                cause="the AI reviewer did not approve",
                expected_kind=escalation.REVIEWER,
            )
    return applied


# Just after this process started, people's tabs have not reconnected yet: their steps are
# not taken for empty then (deadlines still run).
EMPTY_CHAIR_GRACE = timedelta(minutes=2)
_STARTED = utcnow()


def escalate_due() -> int:
    """The escalation pass: move every proposal whose step ran out of time or people, each in
    its own short transaction; a move to the reviewer step starts its review (in the pool)."""
    now = utcnow()
    with read_scope() as session:
        due = escalation.due_moves(
            session=session,
            now=now,
            rules=escalation_policy().presence,
            empty_chairs=now - _STARTED >= EMPTY_CHAIR_GRACE,
        )
    moved = 0
    for proposal_id, kind, cause in due:
        try:
            with session_scope() as session:
                move = escalation.move_on(
                    session=session,
                    proposal_id=proposal_id,
                    now=utcnow(),
                    policy=escalation_policy(),
                    cause=cause,
                    expected_kind=kind,
                )
        except Exception:  # noqa: BLE001 - nothing moved; the next pass tries again
            logger.exception("escalation of proposal %d failed; it stays where it is", proposal_id)
            continue
        if move is None:
            continue
        moved += 1
        if move.kind == escalation.REVIEWER:
            schedule_review(proposal_id)
    return moved


def review_waiting_proposals() -> int:
    """Safety net: review proposals at the reviewer step nobody reviewed (or whose reviewer
    died)."""
    with read_scope() as session:
        waiting = review.waiting_for_review(session=session, now=utcnow())
    for proposal_id in waiting:
        try:
            review_if_unattended(proposal_id)
        except Exception:  # noqa: BLE001 - one failed review must not stop the others
            logger.exception("review of proposal %d failed; it stays for a human", proposal_id)
    return len(waiting)


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


def shadow_review_decided() -> int:
    """The reviewer's verdict on proposals humans decided without it: recorded for its
    accountability, deciding nothing. Claim → review (no transaction open) → record."""
    policy = review_policy()
    with read_scope() as session:
        waiting = reviewer_accountability.proposals_to_shadow(session=session, now=utcnow())
    done = 0
    for proposal_id in waiting:
        with session_scope() as session:
            job = reviewer_accountability.claim_shadow_review(
                session=session,
                proposal_id=proposal_id,
                now=utcnow(),
                default_allow=policy.safe_actions,
            )
        if job is None:
            continue
        try:
            verdict = review.decide(job, policy)
        except Exception:  # noqa: BLE001 - one failed review must not stop the others
            logger.exception("shadow review of proposal %d failed", proposal_id)
            continue  # its claim lapses and it is tried again
        with session_scope() as session:
            done += reviewer_accountability.apply_shadow_review(
                session=session, job=job, review=verdict, now=utcnow(), policy=policy
            )
    return done
