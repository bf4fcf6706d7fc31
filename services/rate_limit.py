"""Rate limits kept in memory: sign-in attempts and agents' request budgets.

Per process: with several app processes each enforces its own share.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


class SlidingWindow:
    """At most `limit` events per `window_s` for each key."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        return events

    def check(self, key: str, now: float) -> Verdict:
        """Whether one more event is allowed now (without recording it)."""
        with self._lock:
            events = self._trim(key, now)
            if len(events) < self.limit:
                return Verdict(True)
            return Verdict(False, max(1, int(events[0] + self.window_s - now + 0.999)))

    def record(self, key: str, now: float) -> None:
        with self._lock:
            self._trim(key, now).append(now)
            if len(self._events) > 100_000:
                self._events.clear()

    def hit(self, key: str, now: float) -> Verdict:
        """Check and record in one step (for budgets that count every request)."""
        with self._lock:
            events = self._trim(key, now)
            if len(events) >= self.limit:
                return Verdict(False, max(1, int(events[0] + self.window_s - now + 0.999)))
            events.append(now)
            return Verdict(True)

    def refund(self, key: str, at: float) -> None:
        """Take back one event recorded at `at` (an attempt that turned out fine)."""
        with self._lock:
            events = self._events.get(key)
            if events is not None and at in events:
                events.remove(at)

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)
