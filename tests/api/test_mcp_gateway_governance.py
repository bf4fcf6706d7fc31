"""The gateway's governance in-process, against the API over real HTTP, with a scripted
upstream and scripted network troubles: what happens to a call's ask when the call ends
before its answer, when the network blips, and to other calls when one is terminated."""

from __future__ import annotations

import asyncio

import httpx
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError
from sqlmodel import select
from supervision_client import AsyncSupervisionClient
from supervision_client.mcp_gateway import REFUSED, UNAVAILABLE
from supervision_client.mcp_gateway._governance import Governance

from models.events import ExecutionEvent
from models.work import Execution, Proposal
from services.db import read_scope
from tests.api.test_async_client import decide, people, steer  # noqa: F401  (people: fixture)
from tests.api.test_stream_api import live_server  # noqa: F401  (the fixture)
from tests.databases import on_postgres
from tests.factories import make_agent

# The gateway talks HTTP to the API; governance on PostgreSQL is covered by the API tests.
pytestmark = pytest.mark.skipif(on_postgres(), reason="adapters are checked once, on SQLite")
WAIT_S = 30  # a safety net for a broken test, never a measured duration


class ScriptedUpstream:
    """The real MCP server, played: `hold` waits for its label's gate."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.returned: list[str] = []

    async def list_tools(self, *, cursor: str | None = None) -> types.ListToolsResult:
        schema = {"type": "object"}
        names = ("hold", "refund")
        return types.ListToolsResult(tools=[types.Tool(name=n, input_schema=schema) for n in names])

    async def call_tool(
        self, name, arguments=None, read_timeout_seconds=None, progress_callback=None
    ):
        self.calls.append({"tool": name, **(arguments or {})})
        label = (arguments or {}).get("label", name)
        if name == "hold":
            await self.gates.setdefault(label, asyncio.Event()).wait()
        self.returned.append(label)
        return types.CallToolResult(content=[types.TextContent(type="text", text=f"{label} done")])


async def no_progress(*_args: object) -> None:
    return None


def runs_of(agent_id: int) -> list[Execution]:
    with read_scope() as session:
        query = select(Execution).where(Execution.agent_id == agent_id).order_by(Execution.id)
        return list(session.exec(query))


def messages_of(run_id: int) -> list[str | None]:
    with read_scope() as session:
        query = select(ExecutionEvent.message).where(ExecutionEvent.execution_id == run_id)
        return list(session.exec(query))


def proposals_of(agent_id: int) -> list[Proposal]:
    with read_scope() as session:
        return list(session.exec(select(Proposal).where(Proposal.agent_id == agent_id)))


async def until(condition, what: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.02)


class SlowAnswers(httpx.AsyncHTTPTransport):
    """Sends each request at once; the answer to `POST /api/v1/actions` comes late."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.path == "/api/v1/actions" and not self.asked.is_set():
            await response.aread()
            self.asked.set()
            await asyncio.sleep(WAIT_S)  # the call is cancelled before the answer comes
        return response


async def test_a_call_cancelled_before_its_ask_was_answered_withdraws_the_ask(people, now):  # noqa: F811
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    transport = SlowAnswers()
    client = httpx.AsyncClient(base_url=url, transport=transport)
    async with AsyncSupervisionClient(url, agent.api_key, http=client) as supervision:
        governance = Governance(supervision=supervision, upstream=ScriptedUpstream(), poll=0.05)
        call = asyncio.create_task(governance.call("refund", {"order": "R-1"}, no_progress))
        await asyncio.wait_for(transport.asked.wait(), WAIT_S)  # the proposal exists
        call.cancel()  # the MCP client gives up before the answer arrives
        with pytest.raises(asyncio.CancelledError):
            await call
    [proposal] = proposals_of(agent.agent.id)
    assert proposal.status == "withdrawn"
    assert proposal.decision_reason == "withdrawn by the agent: the MCP client cancelled the call"


class Blips(httpx.AsyncHTTPTransport):
    """Looks at a pending proposal fail: the `fail` ones given (by count), or all from `from_`."""

    def __init__(self, fail: set[int] = frozenset(), from_: int | None = None) -> None:
        super().__init__()
        self.fail, self.from_, self.looks = fail, from_, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith("/api/v1/proposals/"):
            self.looks += 1
            if self.looks in self.fail or (self.from_ is not None and self.looks >= self.from_):
                raise httpx.ConnectError("connection reset")
        return await super().handle_async_request(request)


async def test_a_network_blip_while_waiting_is_waited_out(people, now):  # noqa: F811
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    upstream = ScriptedUpstream()
    client = httpx.AsyncClient(base_url=url, transport=Blips(fail={2, 3}))
    async with AsyncSupervisionClient(url, agent.api_key, http=client) as supervision:
        governance = Governance(supervision=supervision, upstream=upstream, poll=0.05)
        call = asyncio.create_task(governance.call("refund", {"order": "R-2"}, no_progress))
        await until(lambda: proposals_of(agent.agent.id), "a proposal")
        await until(lambda: client._transport.looks > 3, "the blips")
        await decide(http, headers, proposals_of(agent.agent.id)[0].id, "approve", {})
        result = await asyncio.wait_for(call, WAIT_S)
    assert result.content[0].text == "refund done"
    assert upstream.calls == [{"tool": "refund", "order": "R-2"}]


async def test_a_dashboard_lost_while_waiting_means_nothing_runs_and_the_ask_is_withdrawn(
    people,  # noqa: F811
    now,
):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    upstream = ScriptedUpstream()
    client = httpx.AsyncClient(base_url=url, transport=Blips(from_=2))
    async with AsyncSupervisionClient(url, agent.api_key, http=client) as supervision:
        governance = Governance(supervision=supervision, upstream=upstream, poll=0.05)
        with pytest.raises(MCPError) as lost:
            await asyncio.wait_for(governance.call("refund", {"order": "R-3"}, no_progress), WAIT_S)
    assert lost.value.code == UNAVAILABLE and "the tool was not called" in lost.value.message
    assert upstream.calls == []
    assert proposals_of(agent.agent.id)[0].status == "withdrawn"


async def test_a_stop_tells_a_call_whose_tool_had_returned_that_it_ran(people, now):  # noqa: F811
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    upstream = ScriptedUpstream()
    async with AsyncSupervisionClient(url, agent.api_key) as supervision:
        governance = Governance(supervision=supervision, upstream=upstream, poll=0.05)
        first = asyncio.create_task(governance.call("hold", {"label": "A"}, no_progress))
        second = asyncio.create_task(governance.call("hold", {"label": "B"}, no_progress))
        await until(lambda: len(upstream.calls) == 2, "both tools running")
        run_a, run_b = sorted(runs_of(agent.agent.id), key=lambda run: run.parameters["label"])
        await steer(http, headers, run_b.id, "pause")
        upstream.gates["B"].set()  # B's tool returns; the pause holds its result
        await until(lambda: "hold returned" in messages_of(run_b.id), "B's 'returned' log")
        await steer(http, headers, run_a.id, "terminate", "wrong customer")
        told_a, told_b = await asyncio.wait_for(
            asyncio.gather(first, second, return_exceptions=True), WAIT_S
        )
    assert isinstance(told_b, MCPError) and told_b.code == REFUSED
    assert "wrong customer" in told_b.message and "already run" in told_b.message
    [b] = [run for run in runs_of(agent.agent.id) if run.parameters["label"] == "B"]
    assert b.status == "failed" and "the tool had run; its result was withheld" in b.error
    assert isinstance(told_a, MCPError) and "cancelled" in told_a.message


class LostAnswer(httpx.AsyncHTTPTransport):
    """The first `POST /api/v1/actions` reaches the dashboard; its answer is lost."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.path == "/api/v1/actions" and not self.lost:
            self.lost = True
            await response.aread()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


async def test_an_ask_whose_answer_was_lost_is_withdrawn(people, now):  # noqa: F811
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    upstream = ScriptedUpstream()
    client = httpx.AsyncClient(base_url=url, transport=LostAnswer())
    async with AsyncSupervisionClient(url, agent.api_key, http=client) as supervision:
        governance = Governance(supervision=supervision, upstream=upstream, poll=0.05)
        with pytest.raises(MCPError) as lost:
            await governance.call("refund", {"order": "R-4"}, no_progress)
    assert lost.value.code == UNAVAILABLE and upstream.calls == []
    [proposal] = proposals_of(agent.agent.id)  # one ask, not a second one made by the give-up
    assert proposal.status == "withdrawn"
    assert proposal.decision_reason.startswith("withdrawn by the agent: the answer was lost")


async def test_a_trusted_agents_call_cancelled_before_the_answer_ends_its_run(people, now):  # noqa: F811
    url, supervisor, http, headers = people
    agent = make_agent(now, level="AUTONOMOUS", supervisor_id=supervisor.id)
    transport = SlowAnswers()
    client = httpx.AsyncClient(base_url=url, transport=transport)
    async with AsyncSupervisionClient(url, agent.api_key, http=client) as supervision:
        governance = Governance(supervision=supervision, upstream=ScriptedUpstream(), poll=0.05)
        call = asyncio.create_task(governance.call("refund", {"order": "R-5"}, no_progress))
        await asyncio.wait_for(transport.asked.wait(), WAIT_S)  # the run exists
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    [run] = runs_of(agent.agent.id)
    assert (run.status, run.error) == ("failed", "the MCP client cancelled the call")


async def test_a_give_up_the_dashboard_never_answers_lets_the_cancel_through(
    people,  # noqa: F811
    now,
    monkeypatch,
):
    """Every answer to an ask comes late: the give-up stops trying after its time and the
    cancellation goes on as a cancellation (the ask is left to expire)."""
    from supervision_client import _async

    monkeypatch.setattr(_async, "ASK_AGAIN_WITHIN_S", 0.2)

    class AllLate(httpx.AsyncHTTPTransport):
        asked = asyncio.Event()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/api/v1/actions":
                AllLate.asked.set()
                await asyncio.sleep(WAIT_S)
            return await super().handle_async_request(request)

    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    client = httpx.AsyncClient(base_url=url, transport=AllLate())
    async with AsyncSupervisionClient(url, agent.api_key, http=client) as supervision:
        governance = Governance(supervision=supervision, upstream=ScriptedUpstream(), poll=0.05)
        call = asyncio.create_task(governance.call("refund", {"order": "R-6"}, no_progress))
        await asyncio.wait_for(AllLate.asked.wait(), WAIT_S)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(call, WAIT_S)


class ProxyTimeout(httpx.AsyncHTTPTransport):
    """A reverse proxy in front of the dashboard: the first ask reaches the app, and the agent
    gets the proxy's 504 instead of its answer."""

    def __init__(self) -> None:
        super().__init__()
        self.timed_out = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.path == "/api/v1/actions" and not self.timed_out:
            self.timed_out = True
            await response.aread()
            return httpx.Response(504, text="<html>504 Gateway Time-out</html>")
        return response


async def test_an_ask_answered_by_a_proxys_504_is_withdrawn(people, now):  # noqa: F811
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    upstream = ScriptedUpstream()
    client = httpx.AsyncClient(base_url=url, transport=ProxyTimeout())
    async with AsyncSupervisionClient(url, agent.api_key, http=client) as supervision:
        governance = Governance(supervision=supervision, upstream=upstream, poll=0.05)
        with pytest.raises(MCPError) as failed:
            await governance.call("refund", {"order": "R-7"}, no_progress)
    assert failed.value.code == UNAVAILABLE and upstream.calls == []
    [proposal] = proposals_of(agent.agent.id)  # taken by the app behind the proxy…
    assert proposal.status == "withdrawn"  # …and withdrawn: nobody approves it for nobody
