"""The OpenAI Agents SDK adapter (`supervision_client.openai_agents`) with the real SDK, a
scripted model (no LLM) and the API over real HTTP: a tool call asks the dashboard first, runs
with what a human approved, and the agent obeys pause, correction and terminate."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from agents import (
    Agent,
    AgentHooks,
    CustomTool,
    FunctionTool,
    HostedMCPTool,
    LocalShellTool,
    RunConfig,
    Runner,
    ShellTool,
    WebSearchTool,
    handoff,
    testing,
)
from agents import function_tool as as_tool
from agents.mcp import MCPServerStdio
from agents.testing import assistant_message, function_call
from sqlmodel import select
from supervision_client import AsyncSupervisionClient, Terminated
from supervision_client.openai_agents import AgentTerminated, CannotSupervise, supervise

from models.events import ExecutionEvent
from services.db import read_scope
from tests.api.test_async_client import decide, people, steer  # noqa: F401  (people: fixture)
from tests.api.test_mcp_gateway_governance import LostAnswer
from tests.api.test_stream_api import live_server, parse  # noqa: F401  (the fixture)
from tests.databases import on_postgres
from tests.factories import make_agent

# The adapter talks HTTP to the API; governance on PostgreSQL is covered by the API tests.
pytestmark = pytest.mark.skipif(on_postgres(), reason="adapters are checked once, on SQLite")

NO_TRACES = RunConfig(tracing_disabled=True)


@pytest.fixture
def dashboard(people):  # noqa: F811
    """The API on a socket, and a supervisor online in it (`people` of the async client's tests)."""
    return people


class ScriptedModel(testing.ScriptedModel):
    """The SDK's own scripted model (it streams too), one list of output items per turn, and
    what the model was shown."""

    def __init__(self, *turns: list[Any]) -> None:
        super().__init__(turns)

    @property
    def inputs(self) -> list[Any]:
        return [call.input for call in self.calls]

    def tool_results(self) -> list[str]:
        """The tool outputs in the last turn's input: what the model was told."""
        return [
            item["output"]
            for item in self.inputs[-1]
            if isinstance(item, dict) and item.get("type") == "function_call_output"
        ]


def refund_script(arguments: dict) -> ScriptedModel:
    return ScriptedModel(
        [
            assistant_message("The parcel arrived damaged, so I refund it."),
            function_call("refund_order", arguments, call_id="call-1"),
        ],
        [assistant_message("Done.")],
    )


class RefundTool:
    """The tool the agent calls, recording each call; `gate` (if set) holds it until opened."""

    def __init__(
        self, gate: asyncio.Event | None = None, error: str | Exception | None = None
    ) -> None:
        self.calls: list[dict] = []
        self.started = asyncio.Event()
        self.gate = gate
        self.error = error

    def build(self) -> FunctionTool:
        @as_tool
        async def refund_order(order: str, amount: int) -> str:
            """Refund an order."""
            self.calls.append({"order": order, "amount": amount})
            self.started.set()
            if self.gate is not None:
                await self.gate.wait()
            if isinstance(self.error, Exception):
                raise self.error
            if self.error:
                raise RuntimeError(self.error)
            return f"refunded {amount} on {order}"

        return refund_order


class RecordingClient(AsyncSupervisionClient):
    """The agent's client, keeping each decision so the test can decide on it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decisions: list = []

    async def act(self, *args: Any, **kwargs: Any):
        decision = await super().act(*args, **kwargs)
        self.decisions.append(decision)
        return decision


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


class SeenHooks(AgentHooks):
    """The agent's own hooks: `supervise` must keep calling them."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def on_llm_end(self, *args: Any) -> None:
        self.seen.append("llm_end")

    async def on_tool_end(self, *args: Any) -> None:
        self.seen.append("tool_end")


def agent_with(model: ScriptedModel, tool: RefundTool, client, hooks=None) -> Agent:
    agent = Agent(name="refunder", model=model, tools=[tool.build()], hooks=hooks)
    return supervise(agent, client, poll=0.05)


async def runs_of(http: httpx.Client, headers: dict, agent_id: int) -> list[dict]:
    response = await asyncio.to_thread(
        http.get, f"/api/supervision/agents/{agent_id}/sessions", headers=headers
    )
    if response.status_code == 404:  # no run yet: the agent is not shown to them
        return []
    assert response.status_code == 200, response.text
    return response.json()


async def events_of(http: httpx.Client, headers: dict, run_id: int) -> list[dict]:
    """Every event of a finished run, as its page shows them."""
    response = await asyncio.to_thread(
        http.get, f"/api/supervision/{run_id}/stream", headers=headers
    )
    return [json.loads(e["data"]) for e in parse(response.text) if e["event"] != "end"]


async def test_an_intern_runs_the_tool_once_approved_and_the_model_gets_its_result(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-1", "amount": 400}), RefundTool()
    async with RecordingClient(url, agent.api_key) as bot:
        running = asyncio.create_task(
            Runner.run(agent_with(model, tool, bot), "refund A-1", run_config=NO_TRACES)
        )
        await until(lambda: bot.decisions)
        assert bot.decisions[0].decision == "proposed" and not tool.calls
        await decide(http, headers, bot.decisions[0].proposal_id, "approve", {})
        result = await asyncio.wait_for(running, 20)
    assert tool.calls == [{"order": "A-1", "amount": 400}]
    assert model.tool_results() == ["refunded 400 on A-1"]
    assert result.final_output == "Done."
    [run] = await runs_of(http, headers, agent.agent.id)
    assert run["status"] == "completed" and run["action"] == "refund_order"
    assert run["reason"] == "The parcel arrived damaged, so I refund it."
    events = await events_of(http, headers, run["id"])
    assert [e["kind"] for e in events] == [
        "log",
        "log",
        "progress",
        "log",
        "progress",
        "output",
        "completed",
    ]
    assert events[0]["message"] == "model: The parcel arrived damaged, so I refund it."
    assert events[1]["data"]["approved"] == {"order": "A-1", "amount": 400}
    assert events[3]["message"] == "refund_order returned"
    assert events[5]["data"] == {
        "kind": "text",
        "data": "refunded 400 on A-1",
        "title": "refund_order",
    }


async def test_the_tool_runs_with_the_edited_arguments_and_the_model_is_told(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-1", "amount": 400}), RefundTool()
    async with RecordingClient(url, agent.api_key) as bot:
        running = asyncio.create_task(
            Runner.run(agent_with(model, tool, bot), "refund A-1", run_config=NO_TRACES)
        )
        await until(lambda: bot.decisions)
        edited = {"parameters": {"order": "A-1", "amount": 40}}
        await decide(http, headers, bot.decisions[0].proposal_id, "approve", edited)
        await asyncio.wait_for(running, 20)
    assert tool.calls == [{"order": "A-1", "amount": 40}]
    [told] = model.tool_results()
    assert told.startswith("refunded 40 on A-1")
    assert '"amount": 40' in told  # the model knows its arguments were changed


async def test_a_rejected_tool_does_not_run_and_the_model_is_told_why(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-2", "amount": 9000}), RefundTool()
    async with RecordingClient(url, agent.api_key) as bot:
        running = asyncio.create_task(
            Runner.run(agent_with(model, tool, bot), "refund A-2", run_config=NO_TRACES)
        )
        await until(lambda: bot.decisions)
        reason = {"reason": "too much for a damaged parcel"}
        await decide(http, headers, bot.decisions[0].proposal_id, "reject", reason)
        result = await asyncio.wait_for(running, 20)
    assert tool.calls == []
    [told] = model.tool_results()
    assert "not performed" in told and "too much for a damaged parcel" in told
    assert result.final_output == "Done."
    assert await runs_of(http, headers, agent.agent.id) == []


async def test_no_decision_in_time_withdraws_the_ask_and_the_model_is_told(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-11", "amount": 3}), RefundTool()
    async with RecordingClient(url, agent.api_key) as bot:
        impatient = supervise(
            Agent(name="refunder", model=model, tools=[tool.build()]),
            bot,
            decision_timeout=0.2,
            poll=0.05,
        )
        await Runner.run(impatient, "refund A-11", run_config=NO_TRACES)
        proposal_id = bot.decisions[0].proposal_id
    [told] = model.tool_results()
    assert "not performed" in told and "withdrawn" in told
    assert tool.calls == []
    shown = await asyncio.to_thread(
        http.get, f"/api/supervision/proposals/{proposal_id}", headers=headers
    )
    assert shown.json()["status"] == "withdrawn"


async def test_an_ask_whose_answer_was_lost_is_withdrawn_and_nothing_runs(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-14", "amount": 3}), RefundTool()
    transport = LostAnswer()
    client = httpx.AsyncClient(base_url=url, transport=transport)
    async with AsyncSupervisionClient(url, agent.api_key, http=client) as bot:
        with pytest.raises(Exception) as failure:  # fail closed: Runner.run stops
            await Runner.run(agent_with(model, tool, bot), "refund A-14", run_config=NO_TRACES)
    assert isinstance(failure.value.__cause__, httpx.ReadTimeout)
    assert tool.calls == []
    listed = await asyncio.to_thread(
        http.get, "/api/supervision/proposals", params={"status": "withdrawn"}, headers=headers
    )
    [withdrawn] = [p for p in listed.json() if p["agent_id"] == agent.agent.id]
    assert withdrawn["decision_reason"].startswith("withdrawn by the agent: the answer was lost")


async def test_a_student_is_refused_the_tool_does_not_run_and_the_model_is_told(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="STUDENT", supervisor_id=supervisor.id)
    model, tool, hooks = refund_script({"order": "A-3", "amount": 5}), RefundTool(), SeenHooks()
    async with AsyncSupervisionClient(url, agent.api_key) as bot:
        supervised = agent_with(model, tool, bot, hooks)
        result = await Runner.run(supervised, "refund A-3", run_config=NO_TRACES)
    assert tool.calls == []
    [told] = model.tool_results()
    assert told.startswith("The action refund_order was not performed: refused")
    assert result.final_output == "Done."
    assert hooks.seen == ["llm_end", "tool_end", "llm_end"]  # the agent's own hooks still run


@pytest.mark.parametrize("how", ["agent", "handoff object"])
async def test_the_agent_handed_off_to_asks_too(dashboard, now, how):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="STUDENT", supervisor_id=supervisor.id)
    tool = RefundTool()
    model = ScriptedModel(
        [function_call("transfer_to_refunds", {}, call_id="call-h")],
        [function_call("refund_order", {"order": "H-1", "amount": 9}, call_id="call-r")],
        [assistant_message("Done.")],
    )
    refunds = Agent(name="refunds", model=model, tools=[tool.build()])
    target = refunds if how == "agent" else handoff(refunds)
    triage = Agent(name="triage", model=model, handoffs=[target])
    async with AsyncSupervisionClient(url, agent.api_key) as bot:
        result = await Runner.run(
            supervise(triage, bot, poll=0.05), "refund H-1", run_config=NO_TRACES
        )
    assert tool.calls == []  # the handed-off agent's tool asked, and a STUDENT is refused
    told = model.tool_results()[-1]
    assert told.startswith("The action refund_order was not performed: refused")
    assert result.final_output == "Done."


async def test_pause_holds_the_result_and_a_correction_reaches_the_model(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-4", "amount": 30}), RefundTool(asyncio.Event())
    async with AsyncSupervisionClient(url, agent.api_key) as bot:
        running = asyncio.create_task(
            Runner.run(agent_with(model, tool, bot), "refund A-4", run_config=NO_TRACES)
        )
        await asyncio.wait_for(tool.started.wait(), 20)
        [run] = await runs_of(http, headers, agent.agent.id)
        await steer(http, headers, run["id"], "pause")
        await steer(http, headers, run["id"], "correction", "apologise to the customer")
        tool.gate.set()
        await asyncio.sleep(0.5)
        assert not running.done() and len(model.inputs) == 1  # the result is held
        await steer(http, headers, run["id"], "resume")
        await asyncio.wait_for(running, 40)
    [told] = model.tool_results()
    assert told.startswith("refunded 30 on A-4")
    assert "apologise to the customer" in told


async def test_terminate_stops_the_running_tool_and_the_agent_run(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-5", "amount": 70}), RefundTool(asyncio.Event())
    async with AsyncSupervisionClient(url, agent.api_key) as bot:
        running = asyncio.create_task(
            Runner.run(agent_with(model, tool, bot), "refund A-5", run_config=NO_TRACES)
        )
        await asyncio.wait_for(tool.started.wait(), 20)
        [run] = await runs_of(http, headers, agent.agent.id)
        # The tool is still running (its gate stays shut): the terminate cancels it.
        await steer(http, headers, run["id"], "terminate", "wrong customer")
        with pytest.raises(Terminated) as stop:
            await asyncio.wait_for(running, 20)
    assert isinstance(stop.value, AgentTerminated) and stop.value.reason == "wrong customer"
    assert len(model.inputs) == 1  # the model never got another turn
    [run] = await runs_of(http, headers, agent.agent.id)
    assert run["status"] == "terminated"


async def test_cancelling_the_agent_run_ends_the_running_tools_run(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-12", "amount": 7}), RefundTool(asyncio.Event())
    async with AsyncSupervisionClient(url, agent.api_key) as bot:
        running = asyncio.create_task(
            Runner.run(agent_with(model, tool, bot), "refund A-12", run_config=NO_TRACES)
        )
        await asyncio.wait_for(tool.started.wait(), 20)
        running.cancel()  # the caller gives up on the whole agent run
        with pytest.raises(asyncio.CancelledError):
            await running
        async with asyncio.timeout(20):  # the SDK does not wait for the tool's task to end
            while (await runs_of(http, headers, agent.agent.id))[0]["status"] == "running":
                await asyncio.sleep(0.05)
    [run] = await runs_of(http, headers, agent.agent.id)
    assert run["status"] == "failed"  # not left "running" until found stale
    assert run["error"] == "the agent run was cancelled while the tool ran"


async def test_cancelling_the_agent_run_before_the_tool_starts_ends_its_run(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-13", "amount": 7}), RefundTool()

    class PausedAtOnce(AsyncSupervisionClient):
        """The supervisor pauses the run as soon as it exists: the tool waits to start."""

        async def act(self, *args: Any, **kwargs: Any):
            decision = await super().act(*args, **kwargs)
            await steer(http, headers, decision.execution_id, "pause")
            return decision

    async with PausedAtOnce(url, agent.api_key) as bot:
        running = asyncio.create_task(
            Runner.run(agent_with(model, tool, bot), "refund A-13", run_config=NO_TRACES)
        )
        async with asyncio.timeout(20):  # held in the pause, before the tool
            while not (await runs_of(http, headers, agent.agent.id)):
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        async with asyncio.timeout(20):
            while (await runs_of(http, headers, agent.agent.id))[0]["status"] == "paused":
                await asyncio.sleep(0.05)
    [run] = await runs_of(http, headers, agent.agent.id)
    assert tool.calls == []
    assert (run["status"], run["error"]) == (
        "failed",
        "the agent run was cancelled before the tool ran",
    )


async def test_a_failing_tool_fails_its_run_and_the_model_gets_the_error_text(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="AUTONOMOUS", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-6", "amount": 1}), RefundTool(error="bank down")
    async with AsyncSupervisionClient(url, agent.api_key) as bot:
        result = await Runner.run(agent_with(model, tool, bot), "refund A-6", run_config=NO_TRACES)
    assert tool.calls == [{"order": "A-6", "amount": 1}]
    assert model.tool_results() == ["An error occurred while running the tool. Please try again."]
    assert result.final_output == "Done."
    [run] = await runs_of(http, headers, agent.agent.id)
    assert run["status"] == "failed" and "bank down" in run["error"]


async def test_a_terminate_after_the_tool_returned_stops_the_agent_and_the_page_says_it_ran(
    dashboard, now
):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-8", "amount": 5}), RefundTool(asyncio.Event())
    async with AsyncSupervisionClient(url, agent.api_key) as bot:
        running = asyncio.create_task(
            Runner.run(agent_with(model, tool, bot), "refund A-8", run_config=NO_TRACES)
        )
        await asyncio.wait_for(tool.started.wait(), 20)
        [run] = await runs_of(http, headers, agent.agent.id)
        await steer(http, headers, run["id"], "pause")
        tool.gate.set()  # the tool returns; its result is held by the pause
        await until(lambda: _returned(run["id"]))
        await steer(http, headers, run["id"], "terminate", "changed my mind")
        with pytest.raises(AgentTerminated):
            await asyncio.wait_for(running, 20)
    assert tool.calls == [{"order": "A-8", "amount": 5}] and len(model.inputs) == 1
    messages = [e.get("message") for e in await events_of(http, headers, run["id"])]
    assert messages.index("refund_order returned") < len(messages) - 1


def _returned(run_id: int) -> bool:
    """The run page shows the tool has returned (read from the database: the page's stream
    stays open while the run does)."""
    with read_scope() as session:
        query = select(ExecutionEvent.message).where(ExecutionEvent.execution_id == run_id)
        return "refund_order returned" in session.exec(query).all()


async def test_a_tool_that_times_out_fails_its_run_and_the_model_is_told(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="AUTONOMOUS", supervisor_id=supervisor.id)
    model, tool = refund_script({"order": "A-10", "amount": 1}), RefundTool(asyncio.Event())
    slow = tool.build()
    slow.timeout_seconds = 0.2  # the tool's own timeout (its gate never opens)
    async with AsyncSupervisionClient(url, agent.api_key) as bot:
        supervised = supervise(Agent(name="refunder", model=model, tools=[slow]), bot)
        result = await Runner.run(supervised, "refund A-10", run_config=NO_TRACES)
    [told] = model.tool_results()
    assert "timed out" in told
    assert result.final_output == "Done."
    [run] = await runs_of(http, headers, agent.agent.id)
    assert run["status"] == "failed" and "ToolTimeoutError" in run["error"]


async def test_a_tools_own_http_error_fails_its_run_not_the_agent(dashboard, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="AUTONOMOUS", supervisor_id=supervisor.id)
    shop_down = httpx.ConnectError("the shop's API is down")
    model, tool = refund_script({"order": "A-9", "amount": 1}), RefundTool(error=shop_down)
    async with AsyncSupervisionClient(url, agent.api_key) as bot:
        result = await Runner.run(agent_with(model, tool, bot), "refund A-9", run_config=NO_TRACES)
    assert model.tool_results() == ["An error occurred while running the tool. Please try again."]
    assert result.final_output == "Done."
    [run] = await runs_of(http, headers, agent.agent.id)
    assert run["status"] == "failed" and "shop's API is down" in run["error"]


def unguardable_tools() -> dict[str, Any]:
    return {
        "local shell": LocalShellTool(executor=lambda request: "ran"),
        "shell": ShellTool(executor=lambda request: "ran"),
        "custom": CustomTool(
            name="deploy", description="deploy", on_invoke_tool=lambda ctx, text: "ran"
        ),
        "hosted MCP": HostedMCPTool(
            tool_config={"type": "mcp", "server_label": "shop", "server_url": "https://x"}
        ),
    }


@pytest.mark.parametrize("kind", list(unguardable_tools()))
def test_tools_that_cannot_be_guarded_make_supervise_refuse(kind):
    tool = unguardable_tools()[kind]
    bot = AsyncSupervisionClient("http://127.0.0.1:9", "sva_nothing")
    with pytest.raises(CannotSupervise, match="would act without asking"):
        supervise(Agent(name="ops", tools=[tool]), bot)
    # …also when it belongs to an agent handed off to
    with pytest.raises(CannotSupervise, match="'ops'"):
        supervise(Agent(name="triage", handoffs=[Agent(name="ops", tools=[tool])]), bot)
    # hosted look-up tools change nothing: left as they are
    supervise(Agent(name="search", tools=[WebSearchTool()]), bot)


def test_an_agent_that_gets_its_tools_as_it_runs_is_refused():
    """A SandboxAgent's capabilities add shell and apply-patch tools only when it runs; a
    subclass may choose any tools in get_all_tools: neither can be guarded beforehand."""
    from agents.sandbox import SandboxAgent

    bot = AsyncSupervisionClient("http://127.0.0.1:9", "sva_nothing")
    with pytest.raises(CannotSupervise, match="gets tools only when it runs"):
        supervise(SandboxAgent(name="ops", instructions=""), bot)

    class OwnTools(Agent):
        async def get_all_tools(self, run_context):
            return [*await super().get_all_tools(run_context), LocalShellTool(executor=print)]

    with pytest.raises(CannotSupervise):
        supervise(Agent(name="triage", handoffs=[OwnTools(name="ops")]), bot)


def test_mcp_servers_need_the_gateway():
    server = MCPServerStdio(params={"command": "true"})
    bot = AsyncSupervisionClient("http://127.0.0.1:9", "sva_nothing")
    with pytest.raises(CannotSupervise, match="gateway"):
        supervise(Agent(name="ops", mcp_servers=[server]), bot)
    supervise(Agent(name="ops", mcp_servers=[server]), bot, mcp_servers_are_gateways=True)


async def test_an_unreachable_dashboard_means_the_tool_does_not_run():
    model, tool = refund_script({"order": "A-7", "amount": 1}), RefundTool()
    async with AsyncSupervisionClient("http://127.0.0.1:9", "sva_nothing") as bot:
        with pytest.raises(Exception) as failure:
            await Runner.run(agent_with(model, tool, bot), "refund A-7", run_config=NO_TRACES)
    assert isinstance(failure.value.__cause__, httpx.ConnectError)
    assert tool.calls == [] and len(model.inputs) == 1
