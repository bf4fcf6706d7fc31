"""One `tools/call`, governed: ask the dashboard, wait for a human when the agent is an INTERN
(telling the MCP client what it waits for), call the upstream tool with the approved — possibly
edited — arguments, obey pause / correction / terminate while it runs, and report the result.

Fail closed: when the dashboard cannot be asked, says no, or stops the run, the upstream tool is
not called (or is cancelled) and the MCP client gets an error saying why."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import mcp_types as types
from mcp.shared.exceptions import MCPError

from supervision_client._async import AsyncRun, AsyncSupervisionClient
from supervision_client._protocol import Blocked, NotApproved, SupervisionError, Terminated

logger = logging.getLogger("supervision_client.mcp_gateway")

# JSON-RPC "server error" codes (-32000..-32099) for the two ways governance ends a call.
REFUSED = -32010
"""The dashboard said no: blocked by the agent's level, rejected, expired, or stopped."""
UNAVAILABLE = -32011
"""The dashboard could not be asked (down, bad key, timed out): nothing was called."""

_DASHBOARD_ERRORS = (SupervisionError, httpx.HTTPError)

ReportProgress = Callable[[float, float | None, str | None], Awaitable[None]]


class Upstream(Protocol):
    """What the gateway needs of the real MCP server: `mcp.Client` has it."""

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        read_timeout_seconds: float | None = None,
        progress_callback: Any = None,
    ) -> types.CallToolResult: ...


@dataclass
class Governance:
    """Routes tool calls through the dashboard as one agent (the gateway's key)."""

    supervision: AsyncSupervisionClient
    upstream: Upstream
    poll: float = 2.0
    decision_timeout: float = 24 * 3600
    reason: str = "tool call through the MCP gateway"

    async def call(
        self, name: str, arguments: dict[str, Any], report_progress: ReportProgress
    ) -> types.CallToolResult:
        """The upstream result of `name`, or an `MCPError` when governance stops it."""
        progress = _Progress(report_progress)
        run = await self._permission(name, arguments, progress)
        try:
            approved = await run.parameters()
            await run.log(f"MCP tool call: {name}", data={"arguments": approved})
            await run.check_in()  # paused before it starts: wait; terminated: never call it
        except Terminated as stop:
            raise _stopped(stop, called=False) from None
        except (SupervisionError, httpx.HTTPError) as error:
            raise _unavailable(error) from None
        return await self._run(run, name, approved, progress)

    async def _permission(
        self, name: str, arguments: dict[str, Any], progress: _Progress
    ) -> AsyncRun:
        """The run this call may go ahead as, once the dashboard says so."""
        try:
            decision = await self.supervision.act(name, arguments, reason=self.reason)
            if decision.execution_id is None:
                what = (
                    f"proposal {decision.proposal_id}"
                    if decision.proposal_id
                    else f"queue entry {decision.queue_entry_id}"
                )
                await progress.say(
                    f"waiting for a supervisor to decide ({what}): {decision.reason}"
                )

            async def still_waiting(status: dict[str, Any]) -> None:
                await progress.say(f"still waiting for a supervisor ({status.get('status')})")

            return await self.supervision.wait_for_decision(
                decision, timeout=self.decision_timeout, poll=self.poll, on_wait=still_waiting
            )
        except Blocked as refused:
            raise MCPError(REFUSED, f"Not allowed by supervision: {refused.detail}") from None
        except NotApproved as outcome:
            why = f": {outcome.reason}" if outcome.reason else ""
            raise MCPError(REFUSED, f"The {outcome.kind} was {outcome.status}{why}") from None
        except TimeoutError:
            raise MCPError(
                UNAVAILABLE, f"No decision within {self.decision_timeout:.0f} s; nothing was run"
            ) from None
        except (SupervisionError, httpx.HTTPError) as error:
            raise _unavailable(error) from None

    async def _run(
        self, run: AsyncRun, name: str, arguments: dict[str, Any], progress: _Progress
    ) -> types.CallToolResult:
        """Call upstream while watching the run's controls; report what came back."""
        call = asyncio.create_task(
            self.upstream.call_tool(name, arguments, progress_callback=progress.forward)
        )
        watch = asyncio.create_task(_watch_controls(run))
        done, _ = await asyncio.wait({call, watch}, return_when=asyncio.FIRST_COMPLETED)
        if call not in done:  # the watcher ended first: terminated, or lost the dashboard
            call.cancel()
            with contextlib.suppress(BaseException):
                await call
            error = watch.exception()
            if isinstance(error, Terminated):
                raise _stopped(error, called=True)
            raise _unavailable(error, called=True)
        watch.cancel()
        with contextlib.suppress(
            asyncio.CancelledError, Terminated, SupervisionError, httpx.HTTPError
        ):
            await watch
        return await self._report(run, name, call)

    async def _report(
        self, run: AsyncRun, name: str, call: asyncio.Task[types.CallToolResult]
    ) -> types.CallToolResult:
        """Report the result (held while paused); add any correction for the model to read."""
        try:
            try:
                result = call.result()
            except MCPError as upstream_error:
                await run.fail(f"{name}: {upstream_error.message}")
                raise
            except Exception as crash:  # the upstream server died or answered nonsense
                await run.fail(f"{name}: {type(crash).__name__}: {crash}")
                raise MCPError(types.INTERNAL_ERROR, f"The upstream tool failed: {crash}") from None
            kind, data = _output_of(result)
            await run.output(kind, data, title=f"{name} result")
            if result.is_error:
                await run.fail(f"{name} returned an error")
            else:
                await run.complete({"tool": name})
        except Terminated as stop:
            raise _stopped(stop, called=True) from None
        except (SupervisionError, httpx.HTTPError) as error:
            # The tool has run: withholding its result would undo nothing. Say it loudly.
            logger.warning("%s ran but its result could not be reported: %s", name, error)
        if run.corrections:
            notes = [
                types.TextContent(type="text", text=f"Supervisor: {text}")
                for text in run.corrections
            ]
            result = result.model_copy(update={"content": [*result.content, *notes]})
        return result


async def _watch_controls(run: AsyncRun, retries: int = 5) -> None:
    """Long-poll the run's controls until cancelled; raises `Terminated` on a stop. Pause and
    corrections are recorded on the run (the report waits while paused). A passing network or
    server hiccup is retried; a dashboard gone for good (or refusing us) ends the watch, and
    with it the upstream call: a run nobody can stop does not go on."""
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


class _Progress:
    """Progress notifications to the MCP client: one rising counter for the wait and for the
    upstream tool's own progress, so the client's tokens stay monotonic."""

    def __init__(self, report: ReportProgress) -> None:
        self._report = report
        self._count = 0.0

    async def say(self, message: str) -> None:
        self._count += 1
        with contextlib.suppress(Exception):  # progress is a courtesy, never a reason to fail
            await self._report(self._count, None, message)

    async def forward(self, _progress: float, _total: float | None, message: str | None) -> None:
        await self.say(message or "the tool is working")


def _output_of(result: types.CallToolResult) -> tuple[str, Any]:
    """How the run page shows a tool result: its text when it is all text (a structured result
    comes with its own text rendering, by the spec), else the content as JSON."""
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    if texts and len(texts) == len(result.content):
        return "text", "\n".join(texts)
    if result.structured_content is not None:
        return "json", result.structured_content
    return "json", [block.model_dump(mode="json", exclude_none=True) for block in result.content]


def _stopped(stop: Terminated, *, called: bool) -> MCPError:
    """The MCP error for a run the supervisor stopped (or that ended without us)."""
    what = "the tool call was cancelled" if called else "the tool was not called"
    why = f": {stop.reason}" if stop.reason else ""
    return MCPError(REFUSED, f"Stopped by the supervisor{why}; {what}")


def _unavailable(error: BaseException | None, *, called: bool = False) -> MCPError:
    """The MCP error for a call the dashboard could not govern: not run, or cancelled."""
    logger.warning("supervision dashboard unavailable: %s", error)
    what = "the tool call was cancelled" if called else "the tool was not called"
    return MCPError(
        UNAVAILABLE, f"The supervision dashboard could not be reached ({error}); {what}"
    )
