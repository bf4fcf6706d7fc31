"""Scheduler jobs: each is one unit of work with the real clock, in short transactions of its
own; slow work (a model, an agent's server) runs between them, never inside one."""

from __future__ import annotations

import logging
from datetime import datetime

from services import (
    autonomous_review,
    dispatch,
    maintenance,
    presence,
    proposals,
    queue,
    sign_in_history,
    users,
)
from services import notice_delivery as notice_delivery_service
from services.callback_delivery import deliver_due
from services.clock import utcnow
from services.config import get_settings
from services.db import read_scope, session_scope
from services.policy import liveness_policy, presence_rules
from services.presence_transitions import run_presence_pass
from services.run_liveness import end_if_lost, silent_runs

logger = logging.getLogger(__name__)
# When this process began to listen: runs are not ended as lost before a full window has
# passed since, so an outage of the app does not end every run in flight.
_LISTENING_SINCE = utcnow()


def tidy_database() -> None:
    """Remove expired sign-ins and long-ended tab sessions."""
    with session_scope() as session:
        removed = maintenance.purge_stale_sessions(session=session, now=utcnow())
        removed += sign_in_history.forget_old(session=session, now=utcnow())
        removed += users.forget_old_sign_in_codes(session=session, now=utcnow())
        removed += maintenance.purge_old_notices(session=session, now=utcnow())
    if removed:
        logger.info("tidy_database removed %d stale sessions", removed)


def presence_flush(last: bool = False) -> None:
    """Write the dashboard beats kept in memory (services/presence_memory.py); `last` at
    shutdown."""
    presence.flush_activity(now=utcnow(), last=last)


def presence_transitions() -> list[int]:
    """Move users between online / away / offline on time; dispatch for anyone who became
    available."""
    with session_scope() as session:
        became_available = run_presence_pass(session=session, now=utcnow(), rules=presence_rules())
    for user_id in became_available:
        dispatch.dispatch_supervisor_work(user_id)
    return became_available


def queue_dispatch() -> None:
    """Safety net: start queued work of available supervisors that no presence change started."""
    dispatch.dispatch_all_available()


def end_lost_runs(listening_since: datetime | None = None) -> list[int]:
    """End runs nobody heard from past the lost threshold (their queue entries follow).

    Not in the first lost window after `listening_since` (the process's start): agents that
    could not reach a stopped app get a full window to come back before their runs end.
    """
    now, policy = utcnow(), liveness_policy()
    if listening_since is not None and now - listening_since < policy.lost_after:
        return []
    with read_scope() as session:  # most passes find nothing: no write lock for them
        silent = silent_runs(session=session, now=now, policy=policy)
    ended = []
    for execution_id in silent:  # one short transaction each: a live run is not held long
        with session_scope() as session:
            if end_if_lost(session=session, execution_id=execution_id, now=utcnow(), policy=policy):
                ended.append(execution_id)
    return ended


def run_liveness() -> None:
    """End runs whose agent went silent past the lost threshold; queued work follows."""
    lost = end_lost_runs(listening_since=_LISTENING_SINCE)
    if lost:
        logger.warning("%d runs lost (no report or control poll): %s", len(lost), lost)


def queue_expiry() -> None:
    with session_scope() as session:
        expired = len(queue.mark_expired(session=session, now=utcnow()))
    if expired:
        logger.info("expired %d queue entries", expired)


def proposal_reviews() -> None:
    """Review proposals that wait while their human supervisor is away."""
    autonomous_review.review_waiting_proposals()


def proposal_escalation() -> None:
    """Move proposals on when their step's time ran out or its people left."""
    moved = autonomous_review.escalate_due()
    if moved:
        logger.info("escalated %d proposals", moved)


def shadow_reviews() -> None:
    """The AI reviewer's verdict on proposals humans decided, for its accountability."""
    if get_settings().shadow_reviews:
        autonomous_review.shadow_review_decided()


def proposal_expiry() -> None:
    with session_scope() as session:
        expired = len(proposals.expire_proposals(session=session, now=utcnow()))
    if expired:
        logger.info("expired %d proposals", expired)


def callback_delivery() -> None:
    """Deliver signed callback notifications to agents, retrying with backoff."""
    deliver_due()


def notice_delivery() -> None:
    """Tell the people a proposal asks (chat webhooks, e-mail), with links to decide."""
    notice_delivery_service.deliver_due()


def run_monitoring() -> None:
    """The autonomous supervisor's batched LLM look at the runs it watches."""
    autonomous_review.monitor_autonomous_runs()
