"""The MCP gateway end to end: the official `mcp` SDK's client launches
`python -m supervision_app.mcp_gateway … -- python tests/api/mcp_upstream.py` (stdio) or connects
to its streamable HTTP endpoint, and every tool call goes through a running dashboard: what the
upstream tool receives is what the supervisor approved, and nothing refused ever reaches it."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path

import anyio
import httpx
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from sqlmodel import select
from supervision_client.mcp_gateway import REFUSED, UNAVAILABLE

from models.events import ExecutionEvent
from models.work import Execution, Proposal
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.executions import LivenessPolicy
from services.run_liveness import end_if_lost
from supervision_app.api.app import build_api
from tests.api.test_async_client import decide, people, steer  # noqa: F401  (fixture)
from tests.api.test_stream_api import live_server  # noqa: F401  (the fixture)
from tests.databases import on_postgres
from tests.factories import make_agent

# The adapter talks HTTP to the API; governance on PostgreSQL is covered by the API tests.
pytestmark = pytest.mark.skipif(on_postgres(), reason="adapters are checked once, on SQLite")

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = [sys.executable, str(ROOT / "tests" / "api" / "mcp_upstream.py")]


class Upstream:
    """What reached the real tool: the lines the test server wrote."""

    def __init__(self, folder: Path) -> None:
        self.log = folder / "upstream-calls.jsonl"

    def calls(self, tool: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        lines = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [line for line in lines if tool is None or line["tool"] == tool]

    def release(self) -> None:
        self.log.with_suffix(".release").touch()

    async def until(self, tool: str, phase: str, timeout: float = 30) -> None:
        """Wait until the tool wrote `phase`; fail (not hang) when it never does."""
        async with asyncio.timeout(timeout):
            while not any(c.get("phase") == phase for c in self.calls(tool)):
                await asyncio.sleep(0.02)


@pytest.fixture
def dashboard(people):  # noqa: F811
    """The API on a socket, and a supervisor online in it (`people` of the async client's tests)."""
    return people


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    return Upstream(tmp_path)


def gateway_command(url: str, *extra: str, poll: float = 0.05) -> list[str]:
    return ["-m", "supervision_app.mcp_gateway", "--url", url, "--poll", str(poll), *extra]


def gateway_env(agent_key: str, upstream: Upstream) -> dict[str, str]:
    return {
        **os.environ,
        "SUPERVISION_AGENT_KEY": agent_key,
        "UPSTREAM_LOG": str(upstream.log),
    }


@asynccontextmanager
async def stdio_gateway(
    url: str, agent_key: str, upstream: Upstream, poll: float = 0.05, extra: tuple[str, ...] = ()
) -> AsyncIterator[Client]:
    """An MCP client talking to the gateway, which it launches over stdio."""
    params = StdioServerParameters(
        command=sys.executable,
        args=[*gateway_command(url, *extra, poll=poll), "--", *UPSTREAM],
        env=gateway_env(agent_key, upstream),
        cwd=str(ROOT),
    )
    async with Client(params, read_timeout_seconds=30) as client:
        yield client


def run_of(agent_id: int) -> Execution:
    with read_scope() as session:
        return session.exec(select(Execution).where(Execution.agent_id == agent_id)).one()


def runs_of(agent_id: int) -> list[Execution]:
    with read_scope() as session:
        query = select(Execution).where(Execution.agent_id == agent_id)
        return list(session.exec(query.order_by(Execution.id)))


def events_of(execution_id: int) -> list[ExecutionEvent]:
    with read_scope() as session:
        query = select(ExecutionEvent).where(ExecutionEvent.execution_id == execution_id)
        return list(session.exec(query.order_by(ExecutionEvent.seq)))


async def proposal_of(http: httpx.Client, headers: dict, agent_id: int) -> dict:
    """The agent's pending proposal, once the gateway has made it (fails, not hangs, when the
    gateway never makes one)."""
    async with asyncio.timeout(30):
        while True:
            listed = await asyncio.to_thread(
                http.get,
                "/api/supervision/proposals",
                params={"status": "pending"},
                headers=headers,
            )
            mine = [p for p in listed.json() if p["agent_id"] == agent_id]
            if mine:
                return mine[0]
            await asyncio.sleep(0.05)


async def test_tools_are_listed_unchanged_and_an_autonomous_call_is_reported(
    dashboard, upstream, now
):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="AUTONOMOUS", supervisor_id=supervisor.id)
    direct = StdioServerParameters(
        command=UPSTREAM[0], args=UPSTREAM[1:], env={"UPSTREAM_LOG": str(upstream.log)}
    )
    async with Client(direct) as plain, stdio_gateway(url, agent.api_key, upstream) as mcp:
        listed, original = await mcp.list_tools(), await plain.list_tools()
        assert listed.tools == original.tools

        result = await mcp.call_tool("refund", {"order": "A-1", "amount": 30})
    assert not result.is_error
    assert result.content[0].text == "refunded 30 on A-1"
    run = run_of(agent.agent.id)
    assert (run.action, run.parameters, run.status) == (
        "refund",
        {"order": "A-1", "amount": 30},
        "completed",
    )
    outputs = [e for e in events_of(run.id) if e.kind == "output"]
    assert outputs and outputs[0].data["data"] == "refunded 30 on A-1"


async def test_an_intern_waits_with_progress_and_the_tool_gets_the_edited_arguments(
    dashboard, upstream, now
):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    heard: list[str] = []

    async def progress(_done: float, _total: float | None, message: str | None) -> None:
        heard.append(message or "")

    async with stdio_gateway(url, agent.api_key, upstream) as mcp:
        call = asyncio.create_task(
            mcp.call_tool("refund", {"order": "A-2", "amount": 900}, progress_callback=progress)
        )
        proposal = await proposal_of(http, headers, agent.agent.id)
        assert proposal["parameters"] == {"order": "A-2", "amount": 900}
        async with asyncio.timeout(30):
            while not heard:
                await asyncio.sleep(0.02)
        assert not call.done() and upstream.calls() == []  # nothing runs before the decision
        await decide(
            http, headers, proposal["id"], "approve", {"parameters": {"order": "A-2", "amount": 90}}
        )
        result = await asyncio.wait_for(call, 30)
    assert "waiting for a supervisor" in heard[0] and f"proposal {proposal['id']}" in heard[0]
    texts = [block.text for block in result.content]
    assert texts == [
        "refunded 90 on A-2",
        '[The supervisor changed the arguments; the tool ran with {"order": "A-2", "amount": 90}]',
    ]
    assert upstream.calls("refund") == [
        {"tool": "refund", "order": "A-2", "amount": 90, "at": upstream.calls()[0]["at"]}
    ]


async def test_a_rejected_or_blocked_call_never_reaches_the_tool(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    intern = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    async with stdio_gateway(url, intern.api_key, upstream) as mcp:
        call = asyncio.create_task(mcp.call_tool("refund", {"order": "A-3", "amount": 5000}))
        proposal = await proposal_of(http, headers, intern.agent.id)
        await decide(http, headers, proposal["id"], "reject", {"reason": "far too much"})
        with pytest.raises(MCPError) as rejected:
            await asyncio.wait_for(call, 30)
    assert rejected.value.code == REFUSED and "far too much" in rejected.value.message

    student = make_agent(now, level="STUDENT", supervisor_id=supervisor.id)
    async with stdio_gateway(url, student.api_key, upstream) as mcp:
        with pytest.raises(MCPError) as blocked:
            await mcp.call_tool("refund", {"order": "A-4", "amount": 1})
    assert blocked.value.code == REFUSED and "STUDENT" in blocked.value.message
    assert upstream.calls() == []


async def test_no_decision_in_time_means_the_tool_is_not_called(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    async with stdio_gateway(
        url, agent.api_key, upstream, extra=("--decision-timeout", "0.3")
    ) as mcp:
        with pytest.raises(MCPError) as waited:
            await mcp.call_tool("refund", {"order": "W-1", "amount": 1})
    assert waited.value.code == UNAVAILABLE and "No decision within" in waited.value.message
    assert upstream.calls() == []
    assert proposals_of(agent.agent.id)[0].status == "withdrawn"  # nobody approves it later


def proposals_of(agent_id: int) -> list[Proposal]:
    with read_scope() as session:
        return list(session.exec(select(Proposal).where(Proposal.agent_id == agent_id)))


async def test_a_call_cancelled_while_it_waits_withdraws_its_proposal(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    async with stdio_gateway(url, agent.api_key, upstream) as mcp:
        async with anyio.create_task_group() as calls:
            calls.start_soon(mcp.call_tool, "refund", {"order": "C-1", "amount": 5})
            await proposal_of(http, headers, agent.agent.id)
            calls.cancel_scope.cancel()  # the user gave up: notifications/cancelled
        async with asyncio.timeout(30):
            while proposals_of(agent.agent.id)[0].status == "pending":
                await asyncio.sleep(0.05)
    [proposal] = proposals_of(agent.agent.id)
    assert proposal.status == "withdrawn"
    assert proposal.decision_reason == "withdrawn by the agent: the MCP client cancelled the call"
    assert upstream.calls() == []


async def test_unknown_tools_and_names_the_dashboard_refuses_are_refused(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="AUTONOMOUS", supervisor_id=supervisor.id)
    async with stdio_gateway(url, agent.api_key, upstream) as mcp:
        with pytest.raises(MCPError) as unknown:
            await mcp.call_tool("drop_database", {})
        with pytest.raises(MCPError) as refused:
            await mcp.call_tool("n" * 125, {})
    assert unknown.value.message == "Unknown tool: drop_database"
    assert refused.value.code == REFUSED and "refused the call" in refused.value.message
    assert upstream.calls() == []
    with read_scope() as session:  # nobody was asked about a tool that does not exist
        assert (
            session.exec(select(Execution).where(Execution.agent_id == agent.agent.id)).all() == []
        )


async def test_pause_holds_the_result_and_a_correction_reaches_the_model(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    async with stdio_gateway(url, agent.api_key, upstream) as mcp:
        call = asyncio.create_task(mcp.call_tool("hold", {"label": "report"}))
        await upstream.until("hold", "started")
        run = run_of(agent.agent.id)
        await steer(http, headers, run.id, "pause")
        await steer(http, headers, run.id, "correction", "quote the ticket number")
        upstream.release()
        await upstream.until("hold", "finished")
        await asyncio.sleep(0.5)
        assert not call.done()  # the tool finished, but its result waits for the supervisor
        await steer(http, headers, run.id, "resume")
        result = await asyncio.wait_for(call, 30)
    texts = [block.text for block in result.content]
    assert texts == ["held report", "Supervisor: quote the ticket number"]
    assert run_of(agent.agent.id).status == "completed"


async def test_a_run_paused_before_it_starts_waits_to_call_the_tool(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    # The gateway looks for the decision every 2 s: time to pause the approved run first.
    async with stdio_gateway(url, agent.api_key, upstream, poll=2) as mcp:
        call = asyncio.create_task(mcp.call_tool("refund", {"order": "P-1", "amount": 10}))
        proposal = await proposal_of(http, headers, agent.agent.id)
        await decide(http, headers, proposal["id"], "approve", {})
        await steer(http, headers, run_of(agent.agent.id).id, "pause")
        async with asyncio.timeout(30):
            while run_of(agent.agent.id).picked_up_at is None:  # the gateway has the run now
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert upstream.calls() == [] and not call.done()
        await steer(http, headers, run_of(agent.agent.id).id, "resume")
        result = await asyncio.wait_for(call, 30)
    assert result.content[0].text == "refunded 10 on P-1"


async def test_terminate_cancels_the_running_tool(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    async with stdio_gateway(url, agent.api_key, upstream) as mcp:
        call = asyncio.create_task(mcp.call_tool("hold", {"label": "long"}))
        await upstream.until("hold", "started")
        await steer(http, headers, run_of(agent.agent.id).id, "terminate", "wrong customer")
        with pytest.raises(MCPError) as stopped:
            await asyncio.wait_for(call, 30)
        await upstream.until("hold", "cancelled")
        with pytest.raises(MCPError) as afterwards:  # the agent is stopped, not just that call
            await mcp.call_tool("refund", {"order": "T-2", "amount": 1})
    assert stopped.value.code == REFUSED and "wrong customer" in stopped.value.message
    assert afterwards.value.code == REFUSED and "restart" in afterwards.value.message
    assert upstream.calls("refund") == []
    assert run_of(agent.agent.id).status == "terminated"


async def test_terminating_one_call_stops_the_others_in_flight(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    async with stdio_gateway(url, agent.api_key, upstream) as mcp:
        first = asyncio.create_task(mcp.call_tool("hold", {"label": "first"}))
        second = asyncio.create_task(mcp.call_tool("hold", {"label": "second"}))
        async with asyncio.timeout(30):
            while len([c for c in upstream.calls("hold") if c["phase"] == "started"]) < 2:
                await asyncio.sleep(0.02)
        terminated, other = runs_of(agent.agent.id)
        await steer(http, headers, terminated.id, "terminate", "wrong customer")
        results = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 30)
        async with asyncio.timeout(30):
            while runs_of(agent.agent.id)[1].status == "running":
                await asyncio.sleep(0.05)
    assert all(isinstance(r, MCPError) and r.code == REFUSED for r in results), results
    assert sorted(c["label"] for c in upstream.calls("hold") if c["phase"] == "cancelled") == [
        "first",
        "second",
    ]
    assert not [c for c in upstream.calls("hold") if c["phase"] == "finished"]
    other = runs_of(agent.agent.id)[1]
    assert other.status == "failed" and "supervisor stopped this agent" in other.error


async def test_a_terminate_after_the_tool_ran_says_its_result_is_withheld(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    async with stdio_gateway(url, agent.api_key, upstream) as mcp:
        call = asyncio.create_task(mcp.call_tool("hold", {"label": "done"}))
        await upstream.until("hold", "started")
        run = run_of(agent.agent.id)
        await steer(http, headers, run.id, "pause")
        upstream.release()
        await upstream.until("hold", "finished")
        async with asyncio.timeout(30):  # the run page says the tool has run
            while "hold returned" not in [e.message for e in events_of(run.id)]:
                await asyncio.sleep(0.05)
        await steer(http, headers, run.id, "terminate", "too late")
        with pytest.raises(MCPError) as stopped:
            await asyncio.wait_for(call, 30)
    assert stopped.value.code == REFUSED
    assert "too late" in stopped.value.message
    assert "already run" in stopped.value.message and "cancelled" not in stopped.value.message


async def test_a_run_the_dashboard_gives_up_as_lost_ends_that_call_only(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    async with stdio_gateway(url, agent.api_key, upstream) as mcp:
        call = asyncio.create_task(mcp.call_tool("hold", {"label": "silent"}))
        await upstream.until("hold", "started")
        later = utcnow() + timedelta(hours=1)  # the liveness pass, an hour on
        policy = LivenessPolicy(stale_after=timedelta(minutes=1), lost_after=timedelta(minutes=5))
        with session_scope() as session:
            assert end_if_lost(
                session=session, execution_id=run_of(agent.agent.id).id, now=later, policy=policy
            )
        with pytest.raises(MCPError) as lost:
            await asyncio.wait_for(call, 30)
        await upstream.until("hold", "cancelled")
        after = await mcp.call_tool("refund", {"order": "L-2", "amount": 1})
    assert lost.value.code == UNAVAILABLE and "lost" in lost.value.message
    assert "supervisor" not in lost.value.message
    assert after.content[0].text == "refunded 1 on L-2"  # nobody stopped the agent


async def test_a_call_the_client_cancels_ends_its_run_and_the_tool(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    async with stdio_gateway(url, agent.api_key, upstream) as mcp:
        async with anyio.create_task_group() as calls:
            calls.start_soon(mcp.call_tool, "hold", {"label": "abandoned"})
            await upstream.until("hold", "started")
            calls.cancel_scope.cancel()  # the client gives up: it sends notifications/cancelled
        await upstream.until("hold", "cancelled")
        async with asyncio.timeout(30):
            while run_of(agent.agent.id).status != "failed":
                await asyncio.sleep(0.05)
    assert run_of(agent.agent.id).error == "the MCP client cancelled the call"


async def test_a_failing_tool_fails_its_run(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="AUTONOMOUS", supervisor_id=supervisor.id)
    async with stdio_gateway(url, agent.api_key, upstream) as mcp:
        result = await mcp.call_tool("explode", {"order": "Z-9"})
    assert result.is_error and "no such order Z-9" in result.content[0].text
    assert run_of(agent.agent.id).status == "failed"


@contextmanager
def own_api_server() -> Iterator[tuple[str, Callable[[], None]]]:
    """An API server this test may stop (the shared fixture's outlives the test)."""
    server = uvicorn.Server(
        uvicorn.Config(build_api(), host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    try:
        yield f"http://127.0.0.1:{server.config.port}", stop
    finally:
        stop()


async def test_when_the_dashboard_goes_away_nothing_runs(database, upstream, now):
    agent = make_agent(now, level="AUTONOMOUS")
    with own_api_server() as (url, stop):
        async with stdio_gateway(url, agent.api_key, upstream) as mcp:
            assert (await mcp.list_tools()).tools
            await asyncio.to_thread(stop)
            with pytest.raises(MCPError) as unreachable:
                await mcp.call_tool("refund", {"order": "A-5", "amount": 1})
    assert unreachable.value.code == UNAVAILABLE
    assert "the tool was not called" in unreachable.value.message
    assert upstream.calls() == []


def start_gateway(
    url: str, agent_key: str, upstream: Upstream, command: list[str] = UPSTREAM
) -> subprocess.CompletedProcess[str]:
    """Start the gateway with nobody on its stdin: it runs until it fails to start."""
    return subprocess.run(
        [sys.executable, *gateway_command(url), "--", *command],
        env=gateway_env(agent_key, upstream),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_a_wrong_key_stops_the_gateway_with_a_clear_message(live_server, upstream, now):  # noqa: F811
    started = start_gateway(live_server, "sva_not-a-real-key", upstream)
    assert started.returncode == 2, started.stderr
    assert "refused the agent key" in started.stderr and "sva_not" not in started.stderr

    unreachable = start_gateway("http://127.0.0.1:9", "sva_any", upstream)
    assert unreachable.returncode == 2, unreachable.stderr
    assert "cannot reach the dashboard at http://127.0.0.1:9" in unreachable.stderr

    agent = make_agent(now)
    for url, command, said in [
        (f"{live_server}/api", UPSTREAM, "no dashboard API at"),
        (live_server, ["/nonexistent/mcp-server"], "did not start"),
    ]:
        started = start_gateway(url, agent.api_key, upstream, command)
        assert started.returncode == 2 and said in started.stderr, started.stderr
        assert len(started.stderr.splitlines()) == 1  # one line that says it, no traceback


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_over_streamable_http_an_intern_call_is_approved(dashboard, upstream, now):
    url, supervisor, http, headers = dashboard
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    port = free_port()
    gateway = await asyncio.create_subprocess_exec(
        sys.executable,
        *gateway_command(url, "--http", "--port", str(port)),
        "--",
        *UPSTREAM,
        env=gateway_env(agent.api_key, upstream),
        cwd=ROOT,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}/mcp"
        async with asyncio.timeout(60):
            while True:
                try:
                    async with httpx.AsyncClient() as probe:
                        await probe.get(endpoint)
                    break
                except httpx.TransportError:
                    assert gateway.returncode is None, "the gateway exited"
                    await asyncio.sleep(0.1)
        async with Client(endpoint, read_timeout_seconds=30) as mcp:
            call = asyncio.create_task(mcp.call_tool("refund", {"order": "H-1", "amount": 70}))
            proposal = await proposal_of(http, headers, agent.agent.id)
            await decide(http, headers, proposal["id"], "approve", {})
            result = await asyncio.wait_for(call, 30)
        assert result.content[0].text == "refunded 70 on H-1"
    finally:
        gateway.terminate()
        await gateway.wait()
