"""SQLite's WAL checkpoints, taken off the committing thread.

By default SQLite checkpoints inside whichever commit grows the write-ahead log past 1000
pages: that transaction (a heartbeat flush, the presence pass, an agent's request) pays for
copying the log into the database and syncing it, tens of milliseconds at random. SQLite's
documentation suggests the alternative used here for applications that care about latency:
commits leave checkpoints to a thread of their own, which runs a PASSIVE checkpoint (it
never waits for, nor blocks, readers and writers) about once a second.

The automatic checkpoint stays on with a much higher threshold as a backstop, so the log
stays bounded if this thread stops or cannot keep up.
Several processes on one database each run one; SQLite lets one checkpoint at a time and
the others report busy, which is harmless.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 1.0
# Pages the log may hold before a commit checkpoints by itself (SQLite's default is 1000;
# at 4 KiB pages this is about 80 MB, reached only if the checkpointer is not running).
BACKSTOP_PAGES = 20_000


class WalCheckpointer:
    """One background thread checkpointing one database file."""

    def __init__(self, database: Path, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.database = database
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"sqlite-checkpoint:{self.database.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def checkpoint(self, connection: sqlite3.Connection) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, frames in the log, frames now in the database)."""
        busy, logged, done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return busy, logged, done

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None  # opened once the database exists
        try:
            while not self._stop.wait(self.every_s):
                if connection is None and not self.database.exists():
                    continue
                try:
                    connection = connection or self._connect()
                    self.checkpoint(connection)
                except sqlite3.Error:  # keep trying; the backstop bounds the log meanwhile
                    logger.warning("WAL checkpoint of %s failed", self.database, exc_info=True)
        finally:
            if connection is not None:
                connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False)
        # A checkpoint syncs the database file; NORMAL is what the app's connections use.
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection
