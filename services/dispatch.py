"""Units of work that run in their own transaction: the one hook presence calls when a
supervisor becomes available, and the scheduler's safety-net passes."""

from __future__ import annotations

import logging

from services import presence, queue
from services.clock import utcnow
from services.db import session_scope
from services.policy import presence_rules, queue_policy
from services.queue import Dispatched

logger = logging.getLogger(__name__)


def dispatch_supervisor_work(supervisor_id: int) -> list[Dispatched]:
    """Start the queued work of a supervisor who is available now (no-op otherwise)."""
    with session_scope() as session:
        dispatched = queue.dispatch_for_supervisor(
            session=session, supervisor_id=supervisor_id, now=utcnow(), policy=queue_policy()
        )
    if dispatched:
        logger.info(
            "dispatched %d queued entries for supervisor %d", len(dispatched), supervisor_id
        )
    return dispatched


def dispatch_all_available() -> list[Dispatched]:
    with session_scope() as session:
        supervisors = queue.supervisors_with_pending(session=session, now=utcnow())
    dispatched: list[Dispatched] = []
    for supervisor_id in supervisors:
        dispatched.extend(dispatch_supervisor_work(supervisor_id))
    return dispatched


def run_presence_transitions() -> list[int]:
    """Move users between states on time; dispatch for anyone who became available."""
    with session_scope() as session:
        became_available = presence.apply_presence_transitions(
            session=session, now=utcnow(), rules=presence_rules()
        )
    for user_id in became_available:
        dispatch_supervisor_work(user_id)
    return became_available


def recover_queue() -> int:
    with session_scope() as session:
        return queue.recover_expired_leases(session=session, now=utcnow())


def expire_queue() -> int:
    with session_scope() as session:
        return len(queue.mark_expired(session=session, now=utcnow()))
