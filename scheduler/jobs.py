"""Scheduler jobs: each opens a session, calls one service with the real clock, and returns."""

from __future__ import annotations

import logging

from services import dispatch, maintenance
from services.clock import utcnow
from services.db import session_scope

logger = logging.getLogger(__name__)
# When this process began to listen: runs are not ended as lost before a full window has
# passed since, so an outage of the app does not end every run in flight.
_LISTENING_SINCE = utcnow()


def tidy_database() -> None:
    """Remove expired sign-ins and long-ended tab sessions."""
    with session_scope() as session:
        removed = maintenance.purge_stale_sessions(session=session, now=utcnow())
    if removed:
        logger.info("tidy_database removed %d stale sessions", removed)


def presence_transitions() -> None:
    """Move users between online / away / offline on time; dispatch for returning supervisors."""
    dispatch.run_presence_transitions()


def queue_dispatch() -> None:
    """Safety net: start queued work of available supervisors that no presence change started."""
    dispatch.dispatch_all_available()


def run_liveness() -> None:
    """End runs whose agent went silent past the lost threshold; queued work follows."""
    lost = dispatch.end_lost_runs(listening_since=_LISTENING_SINCE)
    if lost:
        logger.warning("%d runs lost (no report or control poll): %s", len(lost), lost)


def queue_expiry() -> None:
    expired = dispatch.expire_queue()
    if expired:
        logger.info("expired %d queue entries", expired)


def proposal_reviews() -> None:
    """Review proposals that wait while their human supervisor is away."""
    dispatch.review_waiting_proposals()


def proposal_expiry() -> None:
    expired = dispatch.expire_proposals()
    if expired:
        logger.info("expired %d proposals", expired)


def callback_delivery() -> None:
    """Deliver signed callback notifications to agents, retrying with backoff."""
    dispatch.deliver_notifications()


def run_monitoring() -> None:
    """The autonomous supervisor's batched LLM look at the runs it watches."""
    dispatch.monitor_autonomous_runs()
