"""Scheduler jobs: each opens a session, calls one service with the real clock, and returns."""

from __future__ import annotations

import logging

from services import maintenance
from services.clock import utcnow
from services.db import session_scope

logger = logging.getLogger(__name__)


def tidy_database() -> None:
    """Remove expired sign-ins and long-ended tab sessions."""
    with session_scope() as session:
        removed = maintenance.purge_stale_sessions(session=session, now=utcnow())
    if removed:
        logger.info("tidy_database removed %d stale sessions", removed)
