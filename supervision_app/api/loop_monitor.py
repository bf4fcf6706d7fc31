"""Measures how late the event loop wakes up: anything blocking it shows as a stall."""

from __future__ import annotations

import asyncio
import time

INTERVAL_S = 0.01


class LoopMonitor:
    def __init__(self) -> None:
        self.max_stall_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(INTERVAL_S)
            late_ms = (time.perf_counter() - started - INTERVAL_S) * 1000
            self.max_stall_ms = max(self.max_stall_ms, late_ms)


loop_monitor = LoopMonitor()
