"""A per-process cache of what a secret token resolves to (a signed-in user, an agent), keyed
by the token's digest: resolving one costs a database read, and dashboards and agents send
their token with every request.

A `clear()` between a caller's read and its `put()` makes the put a no-op (`generation`): a
change committed while a request was resolving is never hidden by the stale answer it read.
"""

from __future__ import annotations

import threading
import time
from typing import Generic, TypeVar

Value = TypeVar("Value")


class TokenCache(Generic[Value]):
    def __init__(self, ttl_s: float, max_entries: int = 20_000) -> None:
        self.ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: dict[str, tuple[Value, float]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, hashed_token: str) -> Value | None:
        entry = self._entries.get(hashed_token)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def generation(self) -> int:
        """Read before resolving a token; hand it back to `put`."""
        return self._generation

    def put(
        self, hashed_token: str, value: Value, generation: int, lifetime_s: float | None = None
    ) -> None:
        """Keep `value` for at most the TTL (or `lifetime_s` if shorter), unless a change was
        committed since the caller read (`generation`)."""
        lifetime = self.ttl_s if lifetime_s is None else min(self.ttl_s, lifetime_s)
        with self._lock:
            if generation != self._generation or lifetime <= 0:
                return
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[hashed_token] = (value, time.monotonic() + lifetime)

    def forget(self, hashed_token: str) -> None:
        with self._lock:
            self._entries.pop(hashed_token, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
