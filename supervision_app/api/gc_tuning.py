"""Garbage-collector settings for a long-running server process.

The app imports a large object graph (Reflex, FastAPI, SQLAlchemy, LiteLLM). With CPython's
defaults every full collection walks all of it, which showed as stalls of a hundred
milliseconds and more in the heartbeat benchmark. Freezing what exists after start-up moves
it out of the collector's view, and a larger first-generation threshold makes collections
rarer (the request path allocates many short-lived objects that reference counting frees).
"""

from __future__ import annotations

import gc

FIRST_GENERATION_THRESHOLD = 50_000
_tuned = False


def tune_garbage_collector() -> None:
    """Idempotent; call once the app's modules are imported."""
    global _tuned
    if _tuned:
        return
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, second, third)
    _tuned = True
