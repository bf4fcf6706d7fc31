"""Other processes' changes, heard here: LISTEN on PostgreSQL, announced to this process.

Several app processes may share one PostgreSQL database. Each commit that noted topics also
sent them with NOTIFY (services.changes); this relay listens on its own connection and hands
other processes' topics to this process's listeners: dashboard tabs reload what changed, and
agents' control long-polls wake. When the connection drops, the relay reconnects and
announces EVERYTHING once, since notifications sent meanwhile are lost.
"""

from __future__ import annotations

import json
import logging
import threading

import psycopg
from sqlalchemy.engine import make_url

from services.changes import EVERYTHING, NOTIFY_CHANNEL, PROCESS_ID, announce

log = logging.getLogger(__name__)
POLL_S = 0.5  # how often the listening thread looks whether it should stop
RETRY_MAX_S = 5.0


def libpq_url(sqlalchemy_url: str) -> str:
    """`postgresql+psycopg://…` as libpq spells it (`postgresql://…`), password kept."""
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def topics_from(payload: str) -> frozenset[str] | None:
    """The topics of another process's notification; None for ours or for a malformed one."""
    try:
        body = json.loads(payload)
        sender, topics = body["from"], body["topics"]
    except (ValueError, KeyError, TypeError):
        log.warning("change relay: ignored a malformed notification")
        return None
    if sender == PROCESS_ID or not isinstance(topics, list):
        return None
    return frozenset(str(t) for t in topics)


class ChangeRelay:
    def __init__(self, database_url: str) -> None:
        self._url = libpq_url(database_url)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set while LISTEN is in effect (tests wait on it)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="change-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        delay, connected_before = 0.5, False
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening.set()
                    if connected_before:
                        announce(frozenset({EVERYTHING}))  # what was sent meanwhile is lost
                    connected_before, delay = True, 0.5
                    self._relay(connection)
            except psycopg.Error as error:
                log.warning("change relay: %s; reconnecting in %.1f s", error, delay)
            finally:
                self.listening.clear()
            self._stopping.wait(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _relay(self, connection: psycopg.Connection) -> None:
        while not self._stopping.is_set():
            for notification in connection.notifies(timeout=POLL_S):
                topics = topics_from(notification.payload)
                if topics:
                    announce(topics)


def start_change_relay(database_url: str) -> ChangeRelay | None:
    """Start relaying other processes' changes; nothing to do on SQLite (one process)."""
    if make_url(database_url).get_backend_name() != "postgresql":
        return None
    relay = ChangeRelay(database_url)
    relay.start()
    return relay
