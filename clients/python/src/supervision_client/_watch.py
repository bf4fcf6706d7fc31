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


class ControlsLost(Exception):
    """The dashboard could not be heard for good while a step ran, so the step was cancelled.

    Its own type, so a caller tells the dashboard's failure (`__cause__`: the HTTP error or
    the refusal) from the step's own errors, which may be HTTP errors too."""


async def watch_controls(run: AsyncRun, retries: int = 5) -> None:
    """Long-poll the run's controls until cancelled; raises `Terminated` on a stop. Pause and
    corrections are recorded on the run (its next report waits while paused). A passing network
    hiccup, server error or "too busy" (429, waiting as long as it says) is retried; a dashboard
    gone for good (or refusing us) ends the watch with its error: a step nobody can stop does
    not go on. Once the run has ended (the step reported it), there is nothing to hear."""
    failures = 0
    while not run.ended:
        try:
            await run.wait_for_control(20)
            failures = 0
        except (httpx.HTTPError, SupervisionError) as error:
            transient = isinstance(error, httpx.HTTPError) or error.transient
            failures += 1
            if not transient or failures > retries:
                raise
            asked = error.retry_after if isinstance(error, SupervisionError) else None
            await asyncio.sleep(max(asked or 0.0, min(2.0**failures, 10.0)))
    await asyncio.Event().wait()  # ended: wait quietly for the step (we are cancelled then)


async def watched(run: AsyncRun, step: Awaitable[T], *, retries: int = 5) -> T:
    """The step's result, awaited while watching the run. On a terminate the step is cancelled
    and `Terminated` raised; when the dashboard is lost for good, the step is cancelled and
    `ControlsLost` raised (from the dashboard's error). The step's own exceptions pass as they
    are. Cancelling the caller cancels both."""
    work = asyncio.ensure_future(step)
    watch = asyncio.ensure_future(watch_controls(run, retries))
    try:
        done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            return work.result()
        error = watch.exception()
        if isinstance(error, httpx.HTTPError | SupervisionError):
            raise ControlsLost(f"the run's controls could not be watched: {error}") from error
        raise error or RuntimeError("the control watch ended")
    finally:
        work.cancel()
        watch.cancel()
        # Shielded: when our caller was cancelled through an anyio scope (the MCP SDK does
        # that), every bare await would be cancelled again and the step left running.
        with anyio.CancelScope(shield=True):
            await asyncio.gather(work, watch, return_exceptions=True)
