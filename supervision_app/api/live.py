"""Wake-ups for waiting clients: control long-polls and streams when an execution changes,
dashboard tabs when anything they show changes (`change_feed`).

Changes committed in this process, and on PostgreSQL in other processes (services.change_relay),
arrive as topics (services.changes). A long-poll waiter also re-checks the database every
second, in case a wake-up was lost.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque

from services.changes import EVERYTHING, on_committed_changes

RECHECK_S = 1.0


class ExecutionHub:
    def __init__(self) -> None:
        self._waiters: dict[int, set[asyncio.Event]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.versions: dict[int, int] = defaultdict(int)  # bumped by every publish

    def _bind(self) -> None:
        """Publish to the loop that waits: the first one, unless it has stopped (an app
        restarted in the same process, as tests do: its wake-ups went nowhere)."""
        running = asyncio.get_running_loop()
        loop = self._loop
        if loop is None or (loop is not running and (loop.is_closed() or not loop.is_running())):
            self._loop = running

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


def wake_runs_that_changed(topics: frozenset[str]) -> None:
    """A run's status, controls or events changed (here or in another process): wake its
    control long-polls and streams now rather than at their next re-check."""
    for topic in topics:
        kind, _, key = topic.partition(":")
        if kind in ("execution", "events") and key.isdigit():
            hub.publish(int(key))


on_committed_changes(wake_runs_that_changed)

FEED_MEMORY = 2000  # changes kept for followers that fell behind; older ones read as "*"


class ChangeFeed:
    """Wake-ups for open dashboard tabs: each committed change's topics, numbered in order.

    A follower remembers the last version it saw and asks for what came after it
    (`wait_after`); one that fell further behind than the feed remembers gets EVERYTHING."""

    def __init__(self) -> None:
        self.version = 0
        self._recent: deque[tuple[int, frozenset[str]]] = deque(maxlen=FEED_MEMORY)
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind(self) -> asyncio.Event:
        if self._changed is None or self._loop is not asyncio.get_running_loop():
            self._loop = asyncio.get_running_loop()
            self._changed = asyncio.Event()
        return self._changed

    def since(self, version: int) -> frozenset[str]:
        """The topics changed after `version`."""
        if version >= self.version:
            return frozenset()
        if not self._recent or self._recent[0][0] > version + 1:
            return frozenset({EVERYTHING})
        topics: set[str] = set()
        for number, changed in reversed(self._recent):
            if number <= version:
                break
            topics |= changed
        return frozenset(topics)

    async def wait_after(self, version: int, timeout: float) -> int:
        """The feed's version once it is past `version`, or after `timeout` seconds."""
        changed = self._bind()
        if self.version == version:
            try:
                await asyncio.wait_for(changed.wait(), timeout=timeout)
            except TimeoutError:
                pass
        return self.version

    def publish(self, topics: frozenset[str]) -> None:
        """Safe from any thread: a commit's listener or the relay calls it."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._wake, topics)

    def _wake(self, topics: frozenset[str]) -> None:
        self.version += 1
        self._recent.append((self.version, topics))
        changed, self._changed = self._changed, asyncio.Event()
        if changed is not None:
            changed.set()


change_feed = ChangeFeed()
on_committed_changes(change_feed.publish)
