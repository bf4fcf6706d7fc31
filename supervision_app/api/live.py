"""Wake-ups for waiting clients: control long-polls and streams when an execution changes,
dashboard tabs when anything they show changes (`change_feed`).

In-process only: a waiter also re-checks the database every second, so a change made by
another app process is seen within that second.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from services.changes import on_committed_changes

RECHECK_S = 1.0


class ExecutionHub:
    def __init__(self) -> None:
        self._waiters: dict[int, set[asyncio.Event]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.versions: dict[int, int] = defaultdict(int)  # bumped by every publish

    def _bind(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()

    async def wait(self, execution_id: int, timeout: float) -> bool:
        """Wait until `publish(execution_id)` or `timeout`; True when woken."""
        self._bind()
        event = asyncio.Event()
        self._waiters[execution_id].add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout=max(0.0, min(timeout, RECHECK_S)))
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(execution_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    self._waiters.pop(execution_id, None)

    def publish(self, execution_id: int) -> None:
        """Wake everyone waiting on this execution; safe to call from worker threads."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._wake, execution_id)

    def _wake(self, execution_id: int) -> None:
        self.versions[execution_id] += 1
        for event in list(self._waiters.get(execution_id, ())):
            event.set()

    def waiter_count(self) -> int:
        return sum(len(w) for w in self._waiters.values())


hub = ExecutionHub()


class ChangeFeed:
    """Wake-ups for open dashboard tabs when a change they may show is committed in this
    process (services.changes.note_change). Another process's changes reach a tab through
    its periodic check of the change marker instead."""

    def __init__(self) -> None:
        self.version = 0
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind(self) -> asyncio.Event:
        if self._changed is None or self._loop is not asyncio.get_running_loop():
            self._loop = asyncio.get_running_loop()
            self._changed = asyncio.Event()
        return self._changed

    async def wait_after(self, version: int, timeout: float) -> int:
        """The feed's version once it is past `version`, or after `timeout` seconds."""
        changed = self._bind()
        if self.version == version:
            try:
                await asyncio.wait_for(changed.wait(), timeout=timeout)
            except TimeoutError:
                pass
        return self.version

    def publish(self, _topics: frozenset[str]) -> None:
        """Safe from any thread: a commit's listener calls it."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        if changed is not None:
            changed.set()


change_feed = ChangeFeed()
on_committed_changes(change_feed.publish)
