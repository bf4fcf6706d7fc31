"""Running service calls from states: off the event loop, in their own transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session

from services.db import read_scope, session_scope

T = TypeVar("T")


async def read(func: Callable[[Session], T]) -> T:
    """Run `func(session)` in a read-only transaction in a worker thread."""

    def run() -> T:
        with read_scope() as session:
            return func(session)

    return await asyncio.to_thread(run)


async def write(func: Callable[[Session], T]) -> T:
    """Run `func(session)` in a committed read-write transaction in a worker thread."""

    def run() -> T:
        with session_scope() as session:
            return func(session)

    return await asyncio.to_thread(run)


async def run_blocking(func: Callable[[], T]) -> T:
    """Run a unit of work that opens its own transaction, in a worker thread."""
    return await asyncio.to_thread(func)


def sentence(message: str) -> str:
    """A service's message ("you must be online to watch the run") as a screen says it:
    capitalised and ended with a full stop, the rest untouched (agent names, levels)."""
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."
