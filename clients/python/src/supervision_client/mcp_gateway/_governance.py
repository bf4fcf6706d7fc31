"""One `tools/call`, governed: ask the dashboard, wait for a human when the agent is an INTERN
(telling the MCP client what it waits for), call the upstream tool with the approved — possibly
edited — arguments, obey pause / correction / terminate while it runs, and report the result.

Fail closed: when the dashboard cannot be asked, says no, or stops the run, the upstream tool is
not called (or is cancelled) and the MCP client gets an error saying why."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import httpx
import mcp_types as types
from mcp.shared.exceptions import MCPError

from supervision_client._async import (
    AsyncRun,
    AsyncSupervisionClient,
    ask_leaving_nothing_behind,
    end_cancelled,
    wait_or_withdraw,
)
from supervision_client._protocol import (
    Blocked,
    Decision,
    NotApproved,
    SupervisionError,
    Terminated,
    check_wait,
)
from supervision_client._watch import ControlsLost, watched

logger = logging.getLogger("supervision_client.mcp_gateway")

# JSON-RPC "server error" codes (-32000..-32099) for the two ways governance ends a call.
REFUSED = -32010
"""The dashboard said no: blocked by the agent's level, rejected, expired, or stopped."""
UNAVAILABLE = -32011
"""The dashboard could not be asked (down, bad key, timed out): nothing was called."""

_DASHBOARD_ERRORS = (SupervisionError, httpx.HTTPError)
_NOT_CALLED = "the tool was not called"
_RAN_BUT_WITHHELD = "the tool had already run; its result is withheld"

DECISION_TIMEOUT_S = 24 * 3600.0
"""How long a call waits for a supervisor's decision by default (then -32011, nothing run)."""

ReportProgress = Callable[[float, float | None, str | None], Awaitable[None]]


class ToolServer(Protocol):
    """What the gateway needs of the real MCP server: `mcp.Client` has it."""

    async def list_tools(self, *, cursor: str | None = None) -> types.ListToolsResult: ...

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
    upstream: ToolServer
    poll: float = 2.0
    decision_timeout: float = DECISION_TIMEOUT_S
    reason: str = "asked for by an MCP client through the supervision gateway"
    # Set by a supervisor's terminate: the agent is stopped, not just that one call.
    stopped: str | None = None
    _known_tools: frozenset[str] = frozenset()
    # The calls under way, by task: a stop cancels them all.
    _in_flight: dict[int, _Call] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_wait(self.decision_timeout, self.poll)

    async def call(
        self, name: str, arguments: dict[str, Any], report_progress: ReportProgress
    ) -> types.CallToolResult:
        """The upstream result of `name`, or an `MCPError` when governance stops it.

        Every call in flight can be stopped at once: a terminate of one call stops the agent,
        so the others — waiting for a decision, held by a pause or running — end too."""
        if self.stopped is not None:
            raise MCPError(REFUSED, self.stopped)
        task = anyio.get_current_task().id
        this = _Call(anyio.CancelScope())
        with this.scope:
            self._in_flight[task] = this
            try:
                return await self._governed(name, arguments, report_progress, this)
            finally:
                del self._in_flight[task]
        # Only a stop cancels this scope (a client's cancel cancels the task around it).
        stopped = self.stopped or "Stopped by the supervisor"
        if this.returned:
            raise MCPError(REFUSED, f"{stopped}. {_RAN_BUT_WITHHELD.capitalize()}")
        raise MCPError(REFUSED, stopped)

    async def _governed(
        self, name: str, arguments: dict[str, Any], report_progress: ReportProgress, this: _Call
    ) -> types.CallToolResult:
        await self._check_exists(name)
        progress = _Progress(report_progress)
        run = await self._permission(name, arguments, progress)
        try:
            try:
                approved = await run.parameters()
                # Held here while the run is paused; a terminate sent before it starts ends it.
                await run.log(f"MCP tool call: {name}", data={"arguments": approved})
            except Terminated as stop:
                raise self._stop(run, stop, _NOT_CALLED) from None
            except _DASHBOARD_ERRORS as error:
                raise _unavailable(error) from None
            result = await self._run(run, name, approved, progress, this)
        except anyio.get_cancelled_exc_class():
            await end_cancelled(run, self._why_cancelled(this))
            raise
        if approved != arguments:  # the model must not believe it ran with its own arguments
            note = (
                f"[The supervisor changed the arguments; the tool ran with {json.dumps(approved)}]"
            )
            result = _with_text(result, note)
        return result

    async def _check_exists(self, name: str) -> None:
        """Nobody is asked to approve a tool the upstream does not have."""
        if name in self._known_tools:
            return
        names: set[str] = set()
        cursor: str | None = None
        while True:
            page = await self.upstream.list_tools(cursor=cursor)
            names |= {tool.name for tool in page.tools}
            cursor = page.next_cursor
            if not cursor:
                break
        self._known_tools = frozenset(names)
        if name not in names:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {name}")

    def _stop(self, run: AsyncRun, stop: Terminated, what: str) -> MCPError:
        """The supervisor stopped this agent: this call ends, and so does every other one (in
        flight or later). A run the dashboard gave up as lost (nothing heard from us in time)
        ends only this call: nobody stopped the agent."""
        if run.status == "lost":
            return MCPError(
                UNAVAILABLE, f"The dashboard gave this call's run up as lost ({stop}); {what}"
            )
        why = f": {stop.reason}" if stop.reason else ""
        self.stopped = (
            f"The supervisor stopped this agent{why}. Nothing more runs through this gateway; "
            "restart it to go on"
        )
        stopping = anyio.get_current_task().id
        for task, call in self._in_flight.items():
            if task != stopping:
                call.scope.cancel()
        return MCPError(REFUSED, f"Stopped by the supervisor{why}; {what}")

    def _why_cancelled(self, this: _Call | None = None) -> str:
        if self.stopped is None:
            return "the MCP client cancelled the call"
        why = "the supervisor stopped this agent (another of its runs was terminated)"
        if this is not None and this.returned:
            return f"the tool had run; its result was withheld: {why}"
        return why

    async def _permission(
        self, name: str, arguments: dict[str, Any], progress: _Progress
    ) -> AsyncRun:
        """The run this call may go ahead as, once the dashboard says so. An ask this call
        stops waiting for — cancelled, no decision in time, the dashboard lost — is withdrawn:
        nobody approves work that would never start."""
        ask = {
            "action": name,
            "parameters": arguments,
            "reason": self.reason,
            "idempotency_key": f"mcp-gateway-{uuid.uuid4().hex}",
        }
        try:
            decision = await ask_leaving_nothing_behind(
                self.supervision, ask, why_cancelled=self._why_cancelled
            )
            if decision.execution_id is not None:
                return self.supervision.run(decision.execution_id)
            return await self._decided(decision, progress)
        except Blocked as refused:
            raise MCPError(REFUSED, f"Not allowed by supervision: {refused.detail}") from None
        except NotApproved as outcome:
            why = f": {outcome.reason}" if outcome.reason else ""
            raise MCPError(REFUSED, f"The {outcome.kind} was {outcome.status}{why}") from None
        except SupervisionError as error:
            if not error.transient:  # a refusal (bad name, too large…), not an outage
                raise MCPError(REFUSED, f"The dashboard refused the call: {error}") from None
            raise _unavailable(error) from None
        except httpx.HTTPError as error:
            raise _unavailable(error) from None

    async def _decided(self, decision: Decision, progress: _Progress) -> AsyncRun:
        """Wait for a human (telling the MCP client what for); withdraw the ask if we stop."""
        what = (
            f"proposal {decision.proposal_id}"
            if decision.proposal_id
            else f"queue entry {decision.queue_entry_id}"
        )
        await progress.say(f"waiting for a supervisor to decide ({what}): {decision.reason}")

        async def still_waiting(status: dict[str, Any]) -> None:
            await progress.say(f"still waiting for a supervisor ({status.get('status')})")

        try:
            return await wait_or_withdraw(
                self.supervision,
                decision,
                timeout=self.decision_timeout,
                poll=self.poll,
                why_cancelled=self._why_cancelled,
                on_wait=still_waiting,
            )
        except TimeoutError:
            raise MCPError(
                UNAVAILABLE,
                f"No decision within {self.decision_timeout:g} s; "
                "the ask was withdrawn and nothing was run",
            ) from None

    async def _run(
        self,
        run: AsyncRun,
        name: str,
        arguments: dict[str, Any],
        progress: _Progress,
        this: _Call,
    ) -> types.CallToolResult:
        """Call upstream while watching the run's controls (a terminate cancels the call);
        report what came back."""
        call = self.upstream.call_tool(name, arguments, progress_callback=progress.forward)
        try:
            try:
                result = await watched(run, call)
            except Terminated as stop:
                raise self._stop(run, stop, "the tool call was cancelled") from None
            except ControlsLost as lost:
                raise _unavailable(lost.__cause__, called=True) from None
            except MCPError as upstream_error:
                await run.fail(f"{name}: {upstream_error.message}")
                raise
            except Exception as crash:  # the upstream server died or answered nonsense
                await run.fail(f"{name}: {type(crash).__name__}: {crash}")
                raise MCPError(types.INTERNAL_ERROR, f"The upstream tool failed: {crash}") from None
            this.returned = True
            kind, data = _output_of(result)
            # Logged first (a log is taken even while paused): the run page shows the tool
            # has run before a pause holds its result.
            await run.log(f"{name} returned", data={"is_error": bool(result.is_error)})
            await run.output(kind, data, title=f"{name} result")  # held while paused
            if result.is_error:
                await run.fail(f"{name} returned an error")
            else:
                await run.complete({"tool": name})
        except Terminated as stop:
            raise self._stop(run, stop, _RAN_BUT_WITHHELD) from None
        except _DASHBOARD_ERRORS as error:
            # The tool has run: withholding its result would undo nothing. Say it loudly.
            logger.warning("%s ran but its result could not be reported: %s", name, error)
        for text in run.corrections:
            result = _with_text(result, f"Supervisor: {text}")
        return result


@dataclass
class _Call:
    """One call under way: the scope a stop cancels, and whether its tool has returned."""

    scope: anyio.CancelScope
    returned: bool = False


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


def _with_text(result: types.CallToolResult, text: str) -> types.CallToolResult:
    """The result with one more text block, which the model reads with it."""
    block = types.TextContent(type="text", text=text)
    return result.model_copy(update={"content": [*result.content, block]})


def _unavailable(error: BaseException | None, *, called: bool = False) -> MCPError:
    """The MCP error for a call the dashboard could not govern: not run, or cancelled."""
    logger.warning("supervision dashboard unavailable: %s", error)
    what = "the tool call was cancelled" if called else _NOT_CALLED
    detail = f"{type(error).__name__}: {error}" if error is not None else "no answer"
    return MCPError(UNAVAILABLE, f"The dashboard could not be reached ({detail}); {what}")
