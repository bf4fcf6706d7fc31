"""Keep listening to the supervisor while a long step runs: a tool call, an upstream request.

Reports carry controls only when the agent reports; a step that reports nothing for minutes
would hear a terminate only after its side effects. `watched` long-polls the run's controls
beside the step and cancels the step on a terminate."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import anyio
import httpx

from supervision_client._async import AsyncRun
from supervision_client._protocol import SupervisionError

T = TypeVar("T")


async def watch_controls(run: AsyncRun, retries: int = 5) -> None:
    """Long-poll the run's controls until cancelled; raises `Terminated` on a stop. Pause and
    corrections are recorded on the run (its next report waits while paused). A passing network
    or server hiccup is retried; a dashboard gone for good (or refusing us) ends the watch with
    its error: a step nobody can stop does not go on."""
    failures = 0
    while True:
        try:
            await run.wait_for_control(20)
            failures = 0
        except (httpx.HTTPError, SupervisionError) as error:
            transient = isinstance(error, httpx.HTTPError) or error.status >= 500
            failures += 1
            if not transient or failures > retries:
                raise
            await asyncio.sleep(min(2.0**failures, 10.0))


async def watched(run: AsyncRun, step: Awaitable[T], *, retries: int = 5) -> T:
    """The step's result, awaited while watching the run. On a terminate the step is cancelled
    and `Terminated` raised; when the dashboard is lost for good, the step is cancelled and the
    dashboard's error raised. Cancelling the caller cancels both."""
    work = asyncio.ensure_future(step)
    watch = asyncio.ensure_future(watch_controls(run, retries))
    try:
        done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            return work.result()
        raise watch.exception() or RuntimeError("the control watch ended")
    finally:
        work.cancel()
        watch.cancel()
        # Shielded: when our caller was cancelled through an anyio scope (the MCP SDK does
        # that), every bare await would be cancelled again and the step left running.
        with anyio.CancelScope(shield=True):
            await asyncio.gather(work, watch, return_exceptions=True)
