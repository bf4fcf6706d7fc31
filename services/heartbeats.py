"""Heartbeats at scale: most change nothing but a timestamp.

Fast path: a heartbeat from a known live tab of a user who is already online, whose stored
heartbeat is recent, is kept in memory and written with the others in one transaction about
once a second. A crash loses at most a second of timestamps, which the minutes-long
thresholds absorb.

Full path: anything else — a first heartbeat, a state change, an unknown tab, an override, a
stored heartbeat older than REFRESH — goes through the database, group-committed with the
other full heartbeats of the moment (services/group_commit.py): a state change is committed
and recorded before it is answered, but a burst of tabs joining at once costs one commit,
not one each.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from models import PresenceSession, PresenceState, PresenceStatus
from services import presence
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.dispatch import dispatch_for_returning_supervisors
from services.group_commit import GroupCommitter
from services.policy import presence_rules
from services.presence import PresenceRead, PresenceRules, PresenceUpdate, derived_state
from services.presence_cache import presence_cache
from services.security import token_hash

logger = logging.getLogger(__name__)

REFRESH = timedelta(seconds=60)
FLUSH_EVERY_S = 1.0
FLUSH_CHUNK = 5000  # ids per statement, well inside SQLite's bound-parameter limit


class HeartbeatBuffer:
    def __init__(self, flush_every_s: float = FLUSH_EVERY_S) -> None:
        """`flush_every_s`: how often a beat starts a background flush (tests that flush by
        hand pass infinity, so a slow machine's clock does not flush behind their back)."""
        self._flush_every_s = flush_every_s
        self._tabs: dict[str, tuple[int, int]] = {}  # token hash -> (user id, tab id)
        self._pending: dict[int, tuple[int, datetime]] = {}  # tab id -> (user id, at)
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._last_flush = time.monotonic()

    def remember_tab(self, token: str, user_id: int, tab_id: int) -> None:
        with self._lock:
            self._tabs[token_hash(token)] = (user_id, tab_id)

    def forget_tab(self, token: str) -> None:
        with self._lock:
            known = self._tabs.pop(token_hash(token), None)
            if known is not None:
                self._pending.pop(known[1], None)

    def try_record(
        self, user_id: int, token: str, now: datetime, rules: PresenceRules
    ) -> PresenceRead | None:
        """Record in memory and answer, or None when the full path is needed."""
        known = self._tabs.get(token_hash(token))
        snapshot = presence_cache.peek(user_id)
        if known is None or known[0] != user_id or snapshot is None or not snapshot.active:
            return None
        if snapshot.override_state is not None or snapshot.last_heartbeat_at is None:
            return None
        if now - snapshot.last_heartbeat_at > REFRESH:
            return None
        if derived_state(snapshot.last_heartbeat_at, now, rules) != PresenceState.ONLINE:
            return None
        with self._lock:
            self._pending[known[1]] = (user_id, now)
        self._maybe_flush()
        return PresenceRead(
            user_id=user_id,
            state=PresenceState.ONLINE,
            since=snapshot.last_heartbeat_at,
            last_heartbeat_at=now,
            override_state=None,
            override_expires_at=None,
        )

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush < self._flush_every_s or self._flushing.locked():
            return
        self._last_flush = time.monotonic()
        threading.Thread(target=self.flush, name="heartbeat-flush", daemon=True).start()

    def flush(self) -> int:
        """Write buffered heartbeats in one transaction; live tabs only."""
        with self._flushing:
            with self._lock:
                pending, self._pending = self._pending, {}
            if not pending:
                return 0
            try:
                with session_scope() as session:
                    connection = session.connection()
                    for at, tab_ids, user_ids in _by_second(pending):
                        _stamp(
                            connection,
                            PresenceSession,
                            PresenceSession.id,
                            tab_ids,
                            at,
                            col(PresenceSession.ended_at).is_(None),  # never revive an ended tab
                        )
                        _stamp(connection, PresenceStatus, PresenceStatus.user_id, user_ids, at)
            except Exception:  # noqa: BLE001 - keep them for the next flush
                logger.exception("heartbeat flush failed; will retry")
                with self._lock:
                    for tab_id, value in pending.items():
                        self._pending.setdefault(tab_id, value)
                return 0
            return len(pending)


def _by_second(
    pending: dict[int, tuple[int, datetime]],
) -> list[tuple[datetime, list[int], list[int]]]:
    """Buffered beats grouped by the second they came in, oldest first, each stamped with its
    earliest beat: never later than a tab's beat and less than a second early, which the
    minutes-long thresholds absorb; and a few statements however many tabs beat (usually one
    or two seconds' worth, more only after a failed flush)."""
    seconds: dict[int, tuple[list[datetime], list[int], set[int]]] = {}
    for tab_id, (user_id, at) in pending.items():
        times, tab_ids, user_ids = seconds.setdefault(int(at.timestamp()), ([], [], set()))
        times.append(at)
        tab_ids.append(tab_id)
        user_ids.add(user_id)
    return [
        (min(times), sorted(tab_ids), sorted(user_ids))
        for _, (times, tab_ids, user_ids) in sorted(seconds.items())
    ]


def _stamp(
    connection: Connection,
    model: type[PresenceSession] | type[PresenceStatus],
    key: Any,
    ids: list[int],
    at: datetime,
    *conditions: ColumnElement[bool],
) -> None:
    """Set `at` as these rows' last heartbeat, never moving a stored one back (a full-path
    beat may be newer), on the rows that also meet `conditions`."""
    stored = col(model.last_heartbeat_at)
    for start in range(0, len(ids), FLUSH_CHUNK):
        connection.execute(
            update(model)
            .where(
                col(key).in_(ids[start : start + FLUSH_CHUNK]),
                or_(stored.is_(None), stored < at),
                *conditions,
            )
            .values(last_heartbeat_at=at)
        )


heartbeat_buffer = HeartbeatBuffer()


def _record_full_heartbeats(session, beats: list[presence.Heartbeat]) -> list:  # noqa: ANN001
    return presence.record_heartbeats(
        session=session, beats=beats, now=utcnow(), rules=presence_rules()
    )


def _after_full_heartbeats(updates: list[PresenceUpdate]) -> None:
    """Committed, not yet answered: warm the cache so these tabs' next beats take the fast
    path, and start the queued work of everyone who just became available (so a supervisor
    whose heartbeat is answered finds their queued work already running)."""
    with read_scope() as session:
        presence_cache.warm(session, {update.presence.user_id for update in updates})
    returning = {update.presence.user_id for update in updates if update.became_available}
    if returning:
        dispatch_for_returning_supervisors(returning)


heartbeat_writer = GroupCommitter(
    "heartbeat-writer", apply=_record_full_heartbeats, after_commit=_after_full_heartbeats
)


def submit_full_heartbeat(user_id: int, token: str) -> Future[PresenceUpdate]:
    """Record a heartbeat through the database; the future resolves after its commit."""
    future = heartbeat_writer.submit(presence.Heartbeat(user_id, token))

    def remember(done: Future[PresenceUpdate]) -> None:
        if done.exception() is None and done.result().tab_id is not None:
            heartbeat_buffer.remember_tab(token, user_id, done.result().tab_id)

    future.add_done_callback(remember)
    return future
