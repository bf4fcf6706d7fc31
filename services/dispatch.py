"""Starting queued SUPERVISED work when its supervisor is available: the hook presence calls
when a supervisor comes back, and the scheduler's safety-net pass. Each start is its own
short transaction."""

from __future__ import annotations

import logging

from services import on_call, queue
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.policy import queue_policy
from services.queue import Dispatched

logger = logging.getLogger(__name__)


def dispatch_supervisor_work(supervisor_id: int, limit: int | None = None) -> list[Dispatched]:
    """Someone became available: start their queued work, and that of the supervisors who
    named them delegate for now (they watch it). A no-op for whoever is not available."""
    with read_scope() as session:  # most returning supervisors have nothing waiting: no write lock
        owners = {supervisor_id} | on_call.delegators_among(
            session=session, delegate_ids={supervisor_id}, now=utcnow()
        )
        waiting = queue.pending_among(session=session, supervisor_ids=owners)
    dispatched: list[Dispatched] = []
    for owner in sorted(waiting):
        dispatched.extend(_dispatch_queue_of(owner, limit))
    return dispatched


def _dispatch_queue_of(supervisor_id: int, limit: int | None = None) -> list[Dispatched]:
    """Start a supervisor's queued work if they (or their delegate) can watch it now."""
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
    those with work waiting (theirs, or of those they stand in for), and only that is
    dispatched."""
    with read_scope() as session:
        owners = supervisor_ids | on_call.delegators_among(
            session=session, delegate_ids=supervisor_ids, now=utcnow()
        )
        waiting = queue.pending_among(session=session, supervisor_ids=owners)
    dispatched: list[Dispatched] = []
    for supervisor_id in sorted(waiting):
        dispatched.extend(_dispatch_queue_of(supervisor_id))
    return dispatched


def dispatch_all_available(limit: int | None = None) -> list[Dispatched]:
    """Start queued work of every available supervisor (at most `limit` entries each)."""
    with read_scope() as session:
        supervisors = queue.supervisors_with_pending(session=session, now=utcnow())
    dispatched: list[Dispatched] = []
    for supervisor_id in supervisors:
        dispatched.extend(_dispatch_queue_of(supervisor_id, limit))
    return dispatched
