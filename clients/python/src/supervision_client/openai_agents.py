"""The OpenAI Agents SDK under supervision: every function tool asks the dashboard first.

`supervise(agent, client)` returns a copy of the agent whose function tools go through the
dashboard (action = the tool's name, parameters = the model's arguments):

- STUDENT: the tool does not run; the model is told it was refused and why (so it can tell the
  user), and the agent run goes on.
- INTERN: the tool waits (awaited, the event loop keeps running) for a human's decision and runs
  with the *approved* arguments, which the human may have edited; the model is told when they
  were. A rejection, an expiry or no decision within `decision_timeout`: the tool does not run
  and the model is told why.
- SUPERVISED / AUTONOMOUS: runs at once (or when dispatched from the supervised queue).

While a tool runs it reports to its run page: what the model said when it asked, the requested
and approved arguments, its progress, its result (an output event, then `completed`) or its
exception (`failed`; the model then gets the tool's usual error message). A supervisor's pause
holds the tool before it starts and its result before the model sees it; a correction is
appended to the tool's result, so the model reads it on its next turn; terminate raises
`AgentTerminated` out of `Runner.run` (it subclasses `Terminated` and the SDK's own
`AgentsException`, so the SDK lets it through instead of turning it into a tool error) and
cancels an `async def` tool still running. A plain `def` tool runs in a worker thread, which
cannot be stopped: its result is dropped, but it runs to its end.

Tools that act but cannot be guarded (shell, computer, apply-patch, custom, hosted MCP) and MCP
servers make `supervise` raise `CannotSupervise` (see `supervise`).

Fail closed: if the dashboard cannot be asked (network, server error, bad answer) the tool does
not run and `Runner.run` raises (the SDK's `UserError`, caused by the original error).

Needs `pip install "supervision-client[openai-agents]"`; the base package does not import this.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import inspect
import json
import logging
import sys
import uuid
from collections import OrderedDict
from typing import Any, TypeVar

from supervision_client._extras import missing_extra

try:
    import agents  # noqa: F401
except ModuleNotFoundError as missing:  # say what to install, not a bare import error
    raise missing_extra(missing, "openai-agents", "The OpenAI Agents SDK adapter") from missing

from agents import (
    Agent,
    AgentHooks,
    CodeInterpreterTool,
    FileSearchTool,
    FunctionTool,
    Handoff,
    ImageGenerationTool,
    ModelResponse,
    RunContextWrapper,
    ToolSearchTool,
    WebSearchTool,
)
from agents.exceptions import AgentsException, ToolTimeoutError
from agents.tool import (
    ToolOutputText,
    default_tool_timeout_error_message,
    invoke_function_tool,
    maybe_invoke_function_tool_failure_error_function,
    set_function_tool_failure_error_function,
)
from agents.tool_context import ToolContext
from pydantic import BaseModel

from supervision_client._async import (
    AsyncRun,
    AsyncSupervisionClient,
    ask_leaving_nothing_behind,
    end_cancelled,
    wait_or_withdraw,
)
from supervision_client._protocol import (
    Blocked,
    NotApproved,
    Terminated,
    check_wait,
)
from supervision_client._watch import ControlsLost, watched

logger = logging.getLogger(__name__)

TContext = TypeVar("TContext")

MAX_REASON = 5000  # the API's limit for an action's reason
MAX_LOG = 10_000  # the API's limit for a log line
REMEMBERED_TURNS = 1000  # model turns kept for tool calls that have not run (yet)

__all__ = ["AgentTerminated", "CannotSupervise", "ModelTurns", "supervise", "supervised_tool"]


class AgentTerminated(Terminated, AgentsException):
    """The supervisor terminated a tool's run: the agent run stops.

    An `AgentsException`, because the SDK re-raises those from a tool as they are; any other
    exception would reach the caller only as the `__cause__` of a `UserError`."""


class ModelTurns(AgentHooks[Any]):
    """Remembers what the model said in the turn that asked for each tool call (by call id), so
    the supervisor sees the model's words as the action's reason and on the run page.

    Installed by `supervise`; forwards every hook to the agent's own hooks, if it had any."""

    def __init__(self, chained: AgentHooks[Any] | None = None) -> None:
        self._chained = chained or AgentHooks()
        self._said: OrderedDict[str, str] = OrderedDict()

    def take(self, call_id: str) -> str | None:
        """What the model said when it asked for this call (once)."""
        return self._said.pop(call_id, None)

    async def on_llm_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], response: ModelResponse
    ) -> None:
        said = _assistant_text(response)
        for item in response.output:
            if getattr(item, "type", None) == "function_call":
                self._said[item.call_id] = said
        while len(self._said) > REMEMBERED_TURNS:
            self._said.popitem(last=False)
        await self._chained.on_llm_end(context, agent, response)

    async def on_llm_start(self, *args: Any, **kwargs: Any) -> None:
        await self._chained.on_llm_start(*args, **kwargs)

    async def on_start(self, *args: Any, **kwargs: Any) -> None:
        await self._chained.on_start(*args, **kwargs)

    async def on_end(self, *args: Any, **kwargs: Any) -> None:
        await self._chained.on_end(*args, **kwargs)

    async def on_handoff(self, *args: Any, **kwargs: Any) -> None:
        await self._chained.on_handoff(*args, **kwargs)

    async def on_tool_start(self, *args: Any, **kwargs: Any) -> None:
        await self._chained.on_tool_start(*args, **kwargs)

    async def on_tool_end(self, *args: Any, **kwargs: Any) -> None:
        await self._chained.on_tool_end(*args, **kwargs)


class CannotSupervise(ValueError):
    """The agent has a tool the adapter cannot guard: it refuses to supervise it at all
    rather than let that tool act unasked."""


# Hosted tools that only look things up or compute in OpenAI's sandbox: they change nothing
# outside the model's answer, so they are left as they are. Every other kind of tool that is
# not a function tool (shell, computer, apply-patch, custom, hosted MCP, kinds the SDK adds
# later) would act without asking: `supervise` refuses the agent instead.
LOOK_UP_ONLY_TOOLS = (
    FileSearchTool,
    WebSearchTool,
    CodeInterpreterTool,
    ImageGenerationTool,
    ToolSearchTool,
)


def supervise(
    agent: Agent[TContext],
    client: AsyncSupervisionClient,
    *,
    decision_timeout: float = 3600,
    poll: float = 2.0,
    mcp_servers_are_gateways: bool = False,
) -> Agent[TContext]:
    """A copy of `agent` (and of the agents it hands off to) whose function tools ask first.

    Function tools and the agents handed off to (plain `Agent`s and `handoff(...)` objects) are
    guarded. Hosted look-up tools (web search, file search, code interpreter, image
    generation, tool search) are left as they are. Any other tool — shell, local shell,
    computer, apply-patch, custom, hosted MCP — cannot be guarded here, and an agent with one
    (or one it hands off to) raises `CannotSupervise`: wrap what it does in a function tool.
    So does a `SandboxAgent` (its capabilities add shell and file tools as it runs) or any
    agent whose class chooses its tools at run time. An agent with `mcp_servers` raises it
    too, unless `mcp_servers_are_gateways=True` says
    each of them is the supervision MCP gateway (which governs their calls itself). An agent
    used as a tool (`agent.as_tool()`) is asked about as one call; the tools it calls inside are
    guarded only if that agent was `supervise`d before `as_tool()`.
    """
    check_wait(decision_timeout, poll)  # refused now, not at the first tool call
    return _supervise(agent, client, decision_timeout, poll, mcp_servers_are_gateways, {})


def _refuse_unguarded(agent: Agent[Any], mcp_servers_are_gateways: bool) -> None:
    if _tools_chosen_at_run_time(agent):
        raise CannotSupervise(
            f"agent {agent.name!r} ({type(agent).__name__}) gets tools only when it runs "
            "(a sandbox agent's shell and file tools, or get_all_tools overridden), which "
            "would act without asking; use a plain Agent with function tools"
        )
    for tool in agent.tools:
        if not isinstance(tool, (FunctionTool, *LOOK_UP_ONLY_TOOLS)):
            raise CannotSupervise(
                f"agent {agent.name!r}: its tool {getattr(tool, 'name', tool)!r} "
                f"({type(tool).__name__}) cannot be supervised and would act without asking; "
                "give the agent a function tool that does this instead"
            )
    if agent.mcp_servers and not mcp_servers_are_gateways:
        raise CannotSupervise(
            f"agent {agent.name!r}: the tools of its MCP servers would act without asking; "
            "connect them through the supervision MCP gateway and pass "
            "mcp_servers_are_gateways=True"
        )


def _tools_chosen_at_run_time(agent: Agent[Any]) -> bool:
    """Tools that are not in `agent.tools` when `supervise` looks cannot be guarded: a
    `SandboxAgent` gets its capabilities' tools (shell, apply-patch, files) as it runs, and a
    subclass may hand out any tools from its own `get_all_tools`."""
    kind = type(agent)
    if kind.get_all_tools is not Agent.get_all_tools:
        return True
    if kind.get_mcp_tools is not Agent.get_mcp_tools:
        return True
    sandbox = sys.modules.get("agents.sandbox.sandbox_agent")  # imported if one exists
    return sandbox is not None and isinstance(agent, sandbox.SandboxAgent)


def _supervise(
    agent: Agent[Any],
    client: AsyncSupervisionClient,
    decision_timeout: float,
    poll: float,
    mcp_servers_are_gateways: bool,
    done: dict[int, tuple[Agent[Any], Agent[Any]]],
) -> Agent[Any]:
    known = done.get(id(agent))
    if known is not None and known[0] is agent:  # agents may hand off to each other
        return known[1]
    _refuse_unguarded(agent, mcp_servers_are_gateways)
    turns = ModelTurns(agent.hooks)
    tools = [
        supervised_tool(tool, client, decision_timeout=decision_timeout, poll=poll, turns=turns)
        if isinstance(tool, FunctionTool)
        else tool
        for tool in agent.tools
    ]
    supervised = agent.clone(tools=tools, hooks=turns)
    done[id(agent)] = (agent, supervised)  # held: its id is not reused while it is here
    supervised.handoffs = [
        _supervise(target, client, decision_timeout, poll, mcp_servers_are_gateways, done)
        if isinstance(target, Agent)
        else _supervised_handoff(
            target, client, decision_timeout, poll, mcp_servers_are_gateways, done
        )
        for target in agent.handoffs
    ]
    return supervised


def _supervised_handoff(
    handoff: Handoff[Any, Any],
    client: AsyncSupervisionClient,
    decision_timeout: float,
    poll: float,
    mcp_servers_are_gateways: bool,
    done: dict[int, tuple[Agent[Any], Agent[Any]]],
) -> Handoff[Any, Any]:
    """A `Handoff` whose target agent is supervised too: the agent it returns (known only when
    the handoff is invoked) gets the same guarded copy as a plain `Agent` handoff would."""
    invoke = handoff.on_invoke_handoff

    async def supervised_target(context: RunContextWrapper[Any], arguments: str) -> Agent[Any]:
        target = await invoke(context, arguments)
        return _supervise(target, client, decision_timeout, poll, mcp_servers_are_gateways, done)

    return dataclasses.replace(handoff, on_invoke_handoff=supervised_target)


def supervised_tool(
    tool: FunctionTool,
    client: AsyncSupervisionClient,
    *,
    decision_timeout: float = 3600,
    poll: float = 2.0,
    turns: ModelTurns | None = None,
) -> FunctionTool:
    """A copy of `tool` that asks the dashboard before it runs (see the module's docstring).

    Args:
        tool: the tool to guard; it is not changed.
        client: the agent's client (one API key = one agent, with its level).
        decision_timeout: seconds to wait for a proposal's decision or a queued dispatch.
        poll: seconds between two looks at a pending decision.
        turns: where the model's words come from (`supervise` passes its `ModelTurns`).
    """
    check_wait(decision_timeout, poll)
    # The tool itself, with its failure policy switched off, so its exceptions reach us (to
    # report the run failed) instead of becoming an error text inside the SDK's wrapper.
    body = copy.copy(tool)
    set_function_tool_failure_error_function(body, None)
    body.timeout_behavior = "raise_exception"  # a timeout fails the run (see `_timed_out`)
    invocation = _SupervisedInvocation(tool, body, client, decision_timeout, poll, turns)
    guarded = copy.copy(tool)
    guarded.on_invoke_tool = invocation.invoke
    # The SDK's timeout would count the wait for a human: the tool's own timeout still applies
    # to the tool's body (invoke_function_tool honours it).
    guarded.timeout_seconds = None
    return guarded


class _SupervisedInvocation:
    """One guarded tool: ask, wait, run with the approved arguments, report, obey."""

    def __init__(
        self,
        tool: FunctionTool,
        body: FunctionTool,
        client: AsyncSupervisionClient,
        decision_timeout: float,
        poll: float,
        turns: ModelTurns | None,
    ) -> None:
        self._tool = tool
        self._body = body
        self._client = client
        self._decision_timeout = decision_timeout
        self._poll = poll
        self._turns = turns

    async def invoke(self, ctx: ToolContext[Any], arguments: str) -> Any:
        try:
            return await self._ask_then_run(ctx, arguments)
        except AgentTerminated:
            raise
        except Terminated as stop:
            logger.warning("run terminated by the supervisor: %s", stop.reason)
            raise AgentTerminated(stop.reason) from stop

    async def _ask_then_run(self, ctx: ToolContext[Any], arguments: str) -> Any:
        name = self._tool.name
        requested = _json_object(arguments)
        if requested is None:
            return _not_performed(name, "its arguments are not a JSON object")
        said = self._turns.take(ctx.tool_call_id) if self._turns else None
        ask = {
            "action": name,
            "parameters": requested,
            "reason": _reason(ctx, name, said),
            "idempotency_key": f"openai-agents-{uuid.uuid4().hex}",
        }
        try:
            decision = await ask_leaving_nothing_behind(
                self._client, ask, why_cancelled=_run_cancelled
            )
            logger.info("asked to run %s: %s (%s)", name, decision.decision, decision.reason)
            run = await wait_or_withdraw(
                self._client,
                decision,
                timeout=self._decision_timeout,
                poll=self._poll,
                why_cancelled=_run_cancelled,
            )
        except Blocked as refused:
            logger.info("%s refused: %s", name, refused.detail)
            return _not_performed(name, f"refused for this agent: {refused.detail}")
        except NotApproved as outcome:
            logger.info("%s not approved: %s (%s)", name, outcome.status, outcome.reason)
            return _not_performed(name, f"{outcome.status}: {outcome.reason or 'no reason'}")
        except TimeoutError:
            return _not_performed(
                name, f"no decision within {self._decision_timeout:g} s (the ask was withdrawn)"
            )
        try:
            approved = await run.parameters()
            logger.info("running %s (run %s) with %s", name, run.execution_id, approved)
            await self._report_start(run, said, requested, approved)  # held while paused
        except asyncio.CancelledError:  # Runner.run was cancelled before the tool started
            await end_cancelled(run, "the agent run was cancelled before the tool ran")
            raise
        ctx.tool_arguments = json.dumps(approved)  # the tool (and later hooks) see what ran
        try:
            # Watched: a terminate while the tool runs cancels it, not just its report.
            output = await watched(
                run,
                invoke_function_tool(
                    function_tool=self._body, context=ctx, arguments=ctx.tool_arguments
                ),
            )
        except Terminated:
            raise  # the supervisor stopped it: not the tool's own failure
        except asyncio.CancelledError:  # Runner.run was cancelled: the tool was too
            await end_cancelled(run, "the agent run was cancelled while the tool ran")
            raise
        except ControlsLost as lost:
            raise lost.__cause__ or lost from None  # nobody can stop it: the run stops
        except Exception as error:  # the tool's own, HTTP errors of its own included
            await run.fail(f"{type(error).__name__}: {error}"[:MAX_LOG])
            if isinstance(error, ToolTimeoutError):
                return await self._timed_out(ctx, error)
            message = await maybe_invoke_function_tool_failure_error_function(
                function_tool=self._tool, context=ctx, error=error
            )
            if message is None:
                raise  # the tool's own policy: the error stops the agent run
            return message
        kind, data = _reportable(output)
        # A log is taken even while paused: the run page shows the tool has run before a pause
        # holds its result (and a terminate then stops the agent, not the tool).
        await run.log(f"{name} returned")
        await run.progress("report the result", 1, 2)
        await run.output(kind, data, title=name)
        await run.complete(data)
        edited = approved if approved != requested else None
        return _for_model(output, edited, run.corrections)

    async def _timed_out(self, ctx: ToolContext[Any], error: ToolTimeoutError) -> Any:
        """What the model reads after the tool's own timeout, by the tool's timeout policy
        (the body runs with "raise_exception", so the run is failed, not completed)."""
        if self._tool.timeout_behavior == "raise_exception":
            raise error
        explain = self._tool.timeout_error_function
        if explain is None:
            return default_tool_timeout_error_message(
                tool_name=self._tool.name, timeout_seconds=error.timeout_seconds
            )
        message = explain(ctx, error)
        return await message if inspect.isawaitable(message) else message

    async def _report_start(
        self,
        run: AsyncRun,
        said: str | None,
        requested: dict[str, Any],
        approved: dict[str, Any],
    ) -> None:
        """The run page's first lines: the model's turn, then what runs (held while paused)."""
        name = self._tool.name
        if said:
            await run.log(f"model: {said}"[:MAX_LOG])
        how = "as asked" if approved == requested else "with the supervisor's edits"
        await run.log(
            f"model called {name}; running {how}",
            data={"requested": requested, "approved": approved},
        )
        await run.progress(f"run {name}", 0, 2, steps=[f"run {name}", "report the result"])


def _run_cancelled() -> str:
    return "the agent run was cancelled"


def _json_object(arguments: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _assistant_text(response: ModelResponse) -> str:
    parts = []
    for item in response.output:
        if getattr(item, "type", None) == "message":
            parts.extend(getattr(c, "text", "") for c in item.content)
    return " ".join(p for p in parts if p).strip()


def _reason(ctx: ToolContext[Any], name: str, said: str | None) -> str:
    """The model's own words when it gave any, else who asked."""
    agent = getattr(ctx.agent, "name", None) or "an OpenAI Agents SDK agent"
    return (said or f"{agent} called the tool {name}")[:MAX_REASON]


def _not_performed(name: str, why: str) -> str:
    """What the model reads instead of a result: it did not happen, and why."""
    return f"The action {name} was not performed: {why}."


def _reportable(output: Any) -> tuple[str, Any]:
    """The tool's result as an output event: (kind, JSON data)."""
    if isinstance(output, str):
        return "text", output
    if isinstance(output, ToolOutputText):
        return "text", output.text
    if isinstance(output, BaseModel):
        return "json", output.model_dump(mode="json")
    try:
        return "json", json.loads(json.dumps(output))
    except (TypeError, ValueError):
        return "text", str(output)


def _for_model(output: Any, edited: dict[str, Any] | None, corrections: list[str]) -> Any:
    """The result with what the supervisor did to it: the model must not believe it ran with
    its own arguments when they were edited, and reads corrections on its next turn."""
    notes = []
    if edited is not None:
        notes.append(f"[The supervisor changed the arguments; it ran with {json.dumps(edited)}]")
    notes.extend(f"[Correction from your supervisor: {text}]" for text in corrections)
    if not notes:
        return output
    kind, data = _reportable(output)
    text = data if kind == "text" else json.dumps(data)
    return text + "\n\n" + "\n".join(notes)
