"""Wake-ups for waiting clients (control long-polls, streams) when an execution changes.

In-process only: a waiter also re-checks the database every second, so a change made by
another app process is seen within that second.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

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
