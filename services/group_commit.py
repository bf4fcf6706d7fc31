"""Group commit: many small writes of one kind share one transaction.

With one writer at a time (SQLite), a burst of small write transactions queues behind the
lock and each pays for its own BEGIN, queries and commit. Here one thread takes whatever has
queued and hands it all to a set-based `apply` function in one transaction, commits once,
runs the optional `after_commit` hook, and only then answers every caller.
A write is still committed before it is announced; an item `apply` refuses gets its own
error (apply writes nothing for it); a failed commit fails them all (nothing is announced
that was lost). With `scope=read_scope` the same batching serves bursts of reads.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from services.db import session_scope

logger = logging.getLogger(__name__)

# Items in, one answer per item out (a result, or the exception for that item alone).
Apply = Callable[[Session, list[Any]], list[Any]]
AfterCommit = Callable[[list[Any]], None]


@dataclass
class _Pending:
    item: Any
    future: Future[Any] = field(default_factory=Future)


class GroupCommitter:
    """One writer thread; `submit` returns a future resolved after the shared commit."""

    def __init__(
        self,
        name: str,
        apply: Apply,
        max_batch: int = 500,
        after_commit: AfterCommit | None = None,
        scope: Callable[[], AbstractContextManager[Session]] = session_scope,
    ) -> None:
        self.name = name
        self.apply = apply
        self.scope = scope
        self.max_batch = max_batch
        self.after_commit = after_commit
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0

    def submit(self, item: Any) -> Future[Any]:
        pending = _Pending(item)
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
        """Apply every item in one transaction; resolve the futures after the commit."""
        try:
            with self.scope() as session:
                answers = self.apply(session, [pending.item for pending in batch])
                if len(answers) != len(batch):
                    raise RuntimeError(f"{self.name}: {len(answers)} answers for {len(batch)}")
        except Exception as error:  # noqa: BLE001 - nothing committed: nobody is told "done"
            for pending in batch:
                pending.future.set_exception(error)
            raise
        self.batches += 1
        results = [answer for answer in answers if not isinstance(answer, Exception)]
        if self.after_commit is not None and results:
            try:
                self.after_commit(results)
            except Exception:  # noqa: BLE001 - committed already; a hook's failure is logged
                logger.exception("%s: after-commit hook failed", self.name)
        for pending, answer in zip(batch, answers, strict=True):
            if isinstance(answer, Exception):
                pending.future.set_exception(answer)
            else:
                pending.future.set_result(answer)
