"""Group commit: many small writes share one transaction, each still all-or-nothing.

With one writer at a time (SQLite), a burst of small write transactions queues behind the
lock and each pays for its own BEGIN and commit. Here one thread takes whatever has queued,
runs each unit in its own savepoint inside one transaction, commits once, and only then
answers every caller: a write is still committed before it is announced, a failing unit
rolls back alone, and a failed commit fails them all (nothing is announced that was lost).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from services.db import session_scope

logger = logging.getLogger(__name__)

WriteUnit = Callable[[Session], Any]
AfterCommit = Callable[[list[Any]], None]


@dataclass
class _Pending:
    unit: WriteUnit
    future: Future[Any] = field(default_factory=Future)


class GroupCommitter:
    """One writer thread; `submit` returns a future resolved after the shared commit."""

    def __init__(self, name: str, max_batch: int = 250, after_commit: AfterCommit | None = None):
        self.name = name
        self.max_batch = max_batch
        self.after_commit = after_commit
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0

    def submit(self, unit: WriteUnit) -> Future[Any]:
        pending = _Pending(unit)
        self._queue.put(pending)
        self._ensure_thread()
        return pending.future

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.run_batch(batch)
            except Exception:  # noqa: BLE001 - the thread must survive; callers were told
                logger.exception("%s: batch failed", self.name)

    def run_batch(self, batch: list[_Pending]) -> None:
        """Run every unit in one transaction; resolve the futures after the commit."""
        outcomes: list[tuple[_Pending, bool, Any]] = []
        try:
            with session_scope() as session:
                for pending in batch:
                    try:
                        with session.begin_nested():
                            outcomes.append((pending, True, pending.unit(session)))
                    except Exception as error:  # noqa: BLE001 - this unit alone fails
                        outcomes.append((pending, False, error))
        except Exception as error:  # noqa: BLE001 - the commit failed: nobody is told "done"
            for pending in batch:
                pending.future.set_exception(error)
            raise
        self.batches += 1
        results = [value for _pending, ok, value in outcomes if ok]
        if self.after_commit is not None and results:
            try:
                self.after_commit(results)
            except Exception:  # noqa: BLE001 - committed already; a hook's failure is logged
                logger.exception("%s: after-commit hook failed", self.name)
        for pending, ok, value in outcomes:
            if ok:
                pending.future.set_result(value)
            else:
                pending.future.set_exception(value)
