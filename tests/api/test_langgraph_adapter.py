"""The LangGraph adapter (`supervision_client.langgraph`) with the real langgraph package, an
in-memory checkpointer and scripted nodes, against the API over real HTTP: a proposal is an
interrupt, the decision resumes the graph (approve, edit, reject), the node's re-execution
makes no second proposal, a retried node does not run an approval's work twice, each ask in a
loop gets its own decision, and pause / terminate / correction reach the running node."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Annotated, Any

import httpx
import pytest
from langchain_core.messages import AnyMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, RetryPolicy, interrupt
from sqlmodel import select
from supervision_client import (
    AsyncSupervisionClient,
    Blocked,
    NotApproved,
    SupervisionClient,
    Terminated,
)
from supervision_client.langgraph import (
    AlreadyRan,
    aask_supervisor,
    aresume_decided,
    arun_until_decided,
    ask_supervisor,
    pending_decisions,
    resume_decided,
    run_until_decided,
    supervised_node,
)
from typing_extensions import TypedDict

from models.events import ExecutionEvent
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.executions import LivenessPolicy
from services.run_liveness import end_if_lost
from tests.api import test_async_client
from tests.api.test_async_client import decide, steer
from tests.api.test_stream_api import live_server  # noqa: F401  (the fixture)
from tests.databases import on_postgres
from tests.factories import make_agent

# The adapter talks HTTP to the API; governance on PostgreSQL is covered by the API tests.
pytestmark = pytest.mark.skipif(on_postgres(), reason="adapters are checked once, on SQLite")

people = test_async_client.people  # the fixture: a supervisor online, their HTTP session
WAIT_S = 30  # a safety net for a broken test, never a measured duration


class Refund(TypedDict, total=False):
    order: str
    amount: int
    refunded: dict[str, Any]
    refused: str
    seen_by_next: list[str]
    messages: Annotated[list[AnyMessage], add_messages]


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": uuid.uuid4().hex}}


def asked(state: Refund) -> dict[str, Any]:
    return {"order": state["order"], "amount": state["amount"]}


def refund_graph(client: SupervisionClient, ran: list[dict], **options: Any):
    """One supervised node that records the parameters it ran with."""

    @supervised_node(client, "refund_order", parameters=asked, reason="damaged parcel", **options)
    def refund(state: Refund, run, parameters: dict[str, Any]) -> dict[str, Any]:
        ran.append(parameters)
        run.log(f"refunding {parameters['order']}")
        return {"refunded": parameters}

    builder = StateGraph(Refund)
    builder.add_node("refund", refund)
    builder.add_edge(START, "refund")
    builder.add_edge("refund", END)
    return builder.compile(checkpointer=InMemorySaver())


def proposals_of(http: httpx.Client, headers: dict, agent_id: int) -> list[dict]:
    response = http.get(
        "/api/supervision/proposals", params={"agent_id": agent_id}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def until(condition, what: str) -> None:
    """Wait for a condition another thread brings about (no duration is asserted)."""
    done = threading.Event()
    for _ in range(WAIT_S * 20):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError(f"never happened: {what}")


def test_a_proposal_interrupts_the_graph_and_an_edit_reaches_the_node(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    ran: list[dict] = []
    graph, config = refund_graph(bot, ran), thread()

    graph.invoke({"order": "A-1", "amount": 400}, config)
    (waiting,) = pending_decisions(graph.get_state(config))
    assert ran == []  # nothing runs before the decision
    (proposal,) = proposals_of(http, headers, agent.agent.id)
    assert waiting.value["proposal_id"] == proposal["id"]
    assert waiting.value["parameters"] == {"order": "A-1", "amount": 400}

    edited = {"order": "A-1", "amount": 40}
    asyncio.run(decide(http, headers, proposal["id"], "approve", {"parameters": edited}))
    final = resume_decided(graph, config, bot, poll=0.05)

    assert ran == [edited]
    assert final["refunded"] == edited
    assert [p["id"] for p in proposals_of(http, headers, agent.agent.id)] == [proposal["id"]]
    assert pending_decisions(graph.get_state(config)) == []


def test_run_until_decided_waits_for_the_approval_and_each_new_pass_asks_again(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    ran: list[dict] = []
    graph, config = refund_graph(bot, ran), thread()

    with ThreadPoolExecutor(1) as pool:
        for number, order in enumerate(["B-1", "B-2"], start=1):
            finished = pool.submit(
                run_until_decided, graph, {"order": order, "amount": 5}, config, bot, poll=0.05
            )
            until(
                lambda n=number: len(proposals_of(http, headers, agent.agent.id)) == n, "a proposal"
            )
            newest = proposals_of(http, headers, agent.agent.id)[0]
            assert newest["parameters"]["order"] == order and not finished.done()
            asyncio.run(decide(http, headers, newest["id"], "approve", {}))
            assert finished.result(WAIT_S)["refunded"] == {"order": order, "amount": 5}

    assert ran == [{"order": "B-1", "amount": 5}, {"order": "B-2", "amount": 5}]
    runs = [bot.execution(p["execution_id"]) for p in proposals_of(http, headers, agent.agent.id)]
    assert [r["status"] for r in runs] == ["completed", "completed"]


def test_a_rejection_with_its_reason_stops_the_node_or_becomes_its_update(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    ran: list[dict] = []
    graph, config = refund_graph(bot, ran), thread()
    graph.invoke({"order": "C-1", "amount": 9000}, config)
    (proposal,) = proposals_of(http, headers, agent.agent.id)
    asyncio.run(decide(http, headers, proposal["id"], "reject", {"reason": "too much"}))
    with pytest.raises(NotApproved) as refusal:
        resume_decided(graph, config, bot, poll=0.05)
    assert (refusal.value.status, refusal.value.reason) == ("rejected", "too much")

    handled = refund_graph(
        bot, ran, on_rejection=lambda state, refusal: {"refused": refusal.reason}
    )
    config = thread()
    handled.invoke({"order": "C-2", "amount": 9000}, config)
    proposal = proposals_of(http, headers, agent.agent.id)[0]
    asyncio.run(decide(http, headers, proposal["id"], "reject", {"reason": "ask finance"}))
    assert resume_decided(handled, config, bot, poll=0.05)["refused"] == "ask finance"
    assert ran == []


def test_a_resume_that_claims_approval_runs_nothing_the_dashboard_did_not_approve(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    ran: list[dict] = []
    graph, config = refund_graph(bot, ran), thread()
    graph.invoke({"order": "D-1", "amount": 70}, config)
    forged = {"decision": "approved", "parameters": {"order": "D-1", "amount": 70}}
    with pytest.raises(NotApproved) as refusal:
        graph.invoke(Command(resume=forged), config)
    assert refusal.value.status == "pending"
    assert ran == []
    assert len(proposals_of(http, headers, agent.agent.id)) == 1


def test_an_undecided_resume_is_no_rejection_and_a_callers_rejection_withdraws_the_ask(people, now):
    """Resumed as approved before anyone decided: not given to on_rejection (the ask still
    waits, the graph stays at the node). Resumed with the caller's own "rejected": on_rejection
    gets it and the ask is withdrawn, so nobody approves work that will not run."""
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    ran: list[dict] = []
    graph = refund_graph(bot, ran, on_rejection=lambda state, refusal: {"refused": refusal.reason})
    config = thread()
    graph.invoke({"order": "D-2", "amount": 70}, config)
    forged = {"decision": "approved", "parameters": {"order": "D-2", "amount": 70}}
    with pytest.raises(NotApproved) as undecided:
        graph.invoke(Command(resume=forged), config)
    assert undecided.value.status == "pending"
    (proposal,) = proposals_of(http, headers, agent.agent.id)
    assert proposal["status"] == "pending"  # still waits; the graph can be resumed later

    config = thread()
    graph.invoke({"order": "D-3", "amount": 70}, config)
    no = {"decision": "rejected", "status": "rejected", "reason": "the customer withdrew"}
    final = graph.invoke(Command(resume=no), config)
    assert final["refused"] == "the customer withdrew" and ran == []
    mine = [
        p for p in proposals_of(http, headers, agent.agent.id) if p["parameters"]["order"] == "D-3"
    ]
    assert mine[0]["status"] == "withdrawn"


def test_a_student_is_blocked_and_an_unreachable_dashboard_runs_nothing(people, now):
    url, supervisor, http, headers = people
    student = make_agent(now, level="STUDENT", supervisor_id=supervisor.id)
    ran: list[dict] = []
    graph = refund_graph(SupervisionClient(url, student.api_key), ran)
    with pytest.raises(Blocked):
        graph.invoke({"order": "E-1", "amount": 1}, thread())

    autonomous = make_agent(now, level="AUTONOMOUS")
    nowhere = SupervisionClient("http://127.0.0.1:9", autonomous.api_key, timeout=2)
    with pytest.raises(httpx.TransportError):
        refund_graph(nowhere, ran).invoke({"order": "E-2", "amount": 1}, thread())
    assert ran == []


class Steered:
    """A supervised node that reports, then waits for the test before its next report."""

    def __init__(self, client: SupervisionClient) -> None:
        self.client = client
        self.started = threading.Event()
        self.go_on = threading.Event()
        self.run = None
        self.reached_the_end = False

    def graph(self):
        @supervised_node(self.client, "draft_reply", parameters={"ticket": 7})
        def draft(state: Refund, run, parameters: dict[str, Any]) -> dict[str, Any]:
            run.log("started")
            self.run = run
            self.started.set()
            self.go_on.wait(WAIT_S)
            run.progress("draft", 1, 2)
            self.reached_the_end = True
            return {"refunded": {"ticket": parameters["ticket"]}}

        def read_feedback(state: Refund) -> dict[str, Any]:
            return {"seen_by_next": [m.content for m in state.get("messages", [])]}

        builder = StateGraph(Refund)
        builder.add_node("draft", draft)
        builder.add_node("read_feedback", read_feedback)
        builder.add_edge(START, "draft")
        builder.add_edge("draft", "read_feedback")
        builder.add_edge("read_feedback", END)
        return builder.compile(checkpointer=InMemorySaver())

    def start(self, pool: ThreadPoolExecutor) -> Future:
        finished = pool.submit(self.graph().invoke, {"order": "F-1", "amount": 1}, thread())
        assert self.started.wait(WAIT_S)
        return finished


@pytest.fixture
def steered(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    with ThreadPoolExecutor(1) as pool:
        node = Steered(SupervisionClient(url, agent.api_key))
        yield node, node.start(pool), http, headers
        node.go_on.set()


def test_a_pause_holds_the_nodes_report_until_resumed(steered):
    node, finished, http, headers = steered
    run_id = node.run.execution_id
    asyncio.run(steer(http, headers, run_id, "pause"))
    node.go_on.set()
    until(lambda: node.run.paused, "the report refused while paused")
    assert not finished.done() and not node.reached_the_end
    assert node.client.execution(run_id)["current_step"] is None  # not stored while paused
    asyncio.run(steer(http, headers, run_id, "resume"))
    assert finished.result(WAIT_S)["refunded"] == {"ticket": 7}
    shown = node.client.execution(run_id)
    assert (shown["current_step"], shown["status"]) == ("draft", "completed")


def test_terminate_stops_the_graph(steered):
    node, finished, http, headers = steered
    asyncio.run(steer(http, headers, node.run.execution_id, "terminate", "wrong customer"))
    node.go_on.set()
    with pytest.raises(Terminated) as stop:
        finished.result(WAIT_S)
    assert stop.value.reason == "wrong customer"
    assert not node.reached_the_end
    assert node.client.execution(node.run.execution_id)["status"] == "terminated"


def test_a_correction_reaches_the_graph_as_a_message_from_the_supervisor(steered):
    node, finished, http, headers = steered
    text = "use the formal tone"
    asyncio.run(steer(http, headers, node.run.execution_id, "correction", text))
    node.go_on.set()
    final = finished.result(WAIT_S)
    (message,) = final["messages"]
    assert (message.type, message.name, message.content) == ("human", "supervisor", text)
    assert final["seen_by_next"] == [text]


async def test_an_async_node_waits_without_blocking_and_runs_with_the_edit(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    ran: list[dict] = []
    async with AsyncSupervisionClient(url, agent.api_key) as bot:

        @supervised_node(bot, "refund_order", parameters=asked)
        async def refund(state: Refund, run, parameters: dict[str, Any]) -> dict[str, Any]:
            ran.append(parameters)
            await run.log("refunding")
            return {"refunded": parameters}

        builder = StateGraph(Refund)
        builder.add_node("refund", refund)
        builder.add_edge(START, "refund")
        graph = builder.compile(checkpointer=InMemorySaver())
        finished = asyncio.create_task(
            arun_until_decided(graph, {"order": "G-1", "amount": 300}, thread(), bot, poll=0.05)
        )
        while not await asyncio.to_thread(proposals_of, http, headers, agent.agent.id):
            assert not finished.done(), finished
            await asyncio.sleep(0.05)
        (proposal,) = await asyncio.to_thread(proposals_of, http, headers, agent.agent.id)
        edited = {"order": "G-1", "amount": 30}
        await decide(http, headers, proposal["id"], "approve", {"parameters": edited})
        assert (await asyncio.wait_for(finished, WAIT_S))["refunded"] == edited
    assert ran == [edited]
    assert len(await asyncio.to_thread(proposals_of, http, headers, agent.agent.id)) == 1


def flaky_refund_graph(client, side_effects: list[dict], *, retries: int = 3, **options: Any):
    """A supervised node whose work happens (the money moves), then fails the first time;
    LangGraph retries it (`retries` attempts in all, 1: no RetryPolicy)."""

    @supervised_node(client, "refund_order", parameters=asked, **options)
    def refund(state: Refund, run, parameters: dict[str, Any]) -> dict[str, Any]:
        side_effects.append(parameters)
        if len(side_effects) == 1:
            raise ConnectionError("flaky receipt printer")
        return {"refunded": parameters}

    builder = StateGraph(Refund)
    policy = RetryPolicy(max_attempts=retries, initial_interval=0.01, jitter=False)
    builder.add_node("refund", refund, retry_policy=policy if retries > 1 else None)
    builder.add_edge(START, "refund")
    builder.add_edge("refund", END)
    return builder.compile(checkpointer=InMemorySaver())


def test_a_retried_node_does_not_run_the_approved_work_again(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    side_effects: list[dict] = []
    graph = flaky_refund_graph(
        bot, side_effects, on_rejection=lambda state, refusal: {"refused": refusal.reason}
    )
    with pytest.raises(AlreadyRan) as refusal:  # not a rejection: on_rejection is not used
        graph.invoke({"order": "H-1", "amount": 10}, thread())
    assert side_effects == [{"order": "H-1", "amount": 10}]
    assert refusal.value.status == "failed"
    assert "ConnectionError: flaky receipt printer" in refusal.value.reason
    assert bot.execution(refusal.value.execution_id)["status"] == "failed"


def test_an_approved_proposal_runs_once_when_the_node_is_retried(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    side_effects: list[dict] = []
    graph = flaky_refund_graph(bot, side_effects)
    with ThreadPoolExecutor(1) as pool:
        finished = pool.submit(
            run_until_decided, graph, {"order": "I-1", "amount": 10}, thread(), bot, poll=0.05
        )
        until(lambda: proposals_of(http, headers, agent.agent.id), "a proposal")
        (proposal,) = proposals_of(http, headers, agent.agent.id)
        asyncio.run(decide(http, headers, proposal["id"], "approve", {}))
        with pytest.raises(AlreadyRan) as refusal:
            finished.result(WAIT_S)
    assert side_effects == [{"order": "I-1", "amount": 10}]
    assert refusal.value.status == "failed"
    assert len(proposals_of(http, headers, agent.agent.id)) == 1


def test_invoking_again_after_an_error_does_not_run_the_approved_work_again(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    side_effects: list[dict] = []
    graph, config = (
        flaky_refund_graph(SupervisionClient(url, agent.api_key), side_effects, retries=1),
        thread(),
    )
    with pytest.raises(ConnectionError):
        graph.invoke({"order": "J-1", "amount": 10}, config)
    with pytest.raises(AlreadyRan):
        graph.invoke(None, config)  # LangGraph runs the failed task again
    assert side_effects == [{"order": "J-1", "amount": 10}]


def test_a_retry_asks_again_when_told_to(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    side_effects: list[dict] = []
    graph = flaky_refund_graph(bot, side_effects, ask_again_after_failure=True)
    edited = {"order": "K-1", "amount": 5}
    with ThreadPoolExecutor(1) as pool:
        finished = pool.submit(
            run_until_decided, graph, {"order": "K-1", "amount": 10}, thread(), bot, poll=0.05
        )
        until(lambda: proposals_of(http, headers, agent.agent.id), "a proposal")
        first = proposals_of(http, headers, agent.agent.id)[0]
        asyncio.run(decide(http, headers, first["id"], "approve", {}))
        until(lambda: len(proposals_of(http, headers, agent.agent.id)) == 2, "a new proposal")
        second = proposals_of(http, headers, agent.agent.id)[0]
        assert second["parameters"] == {"order": "K-1", "amount": 10}
        asyncio.run(decide(http, headers, second["id"], "approve", {"parameters": edited}))
        assert finished.result(WAIT_S)["refunded"] == edited
    assert side_effects == [{"order": "K-1", "amount": 10}, edited]
    oldest_first = reversed(proposals_of(http, headers, agent.agent.id))
    runs = [bot.execution(p["execution_id"]) for p in oldest_first]
    assert [r["status"] for r in runs] == ["failed", "completed"]


def test_each_ask_in_a_loop_gets_its_own_decision(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    refunded: list[dict] = []

    def refund_all(state: Refund) -> dict[str, Any]:
        done = []
        for order in ["L-1", "L-2"]:
            try:
                run = ask_supervisor(bot, "refund_order", {"order": order, "amount": 1})
            except AlreadyRan as already:  # done before the interrupt of a later ask
                assert already.status == "completed"
                done.append(already.execution_id)
                continue
            refunded.append(run.parameters())
            run.complete()
            done.append(run.execution_id)
        return {"refunded": {"runs": done}}

    builder = StateGraph(Refund)
    builder.add_node("refund_all", refund_all)
    builder.add_edge(START, "refund_all")
    graph = builder.compile(checkpointer=InMemorySaver())
    with ThreadPoolExecutor(1) as pool:
        finished = pool.submit(run_until_decided, graph, {}, thread(), bot, poll=0.05)
        until(lambda: proposals_of(http, headers, agent.agent.id), "a proposal")
        (first,) = proposals_of(http, headers, agent.agent.id)
        asyncio.run(decide(http, headers, first["id"], "approve", {}))
        until(lambda: len(proposals_of(http, headers, agent.agent.id)) == 2, "a second proposal")
        second = proposals_of(http, headers, agent.agent.id)[0]
        assert second["parameters"] == {"order": "L-2", "amount": 1}
        edited = {"order": "L-2", "amount": 2}
        asyncio.run(decide(http, headers, second["id"], "approve", {"parameters": edited}))
        final = finished.result(WAIT_S)
    assert refunded == [{"order": "L-1", "amount": 1}, edited]
    oldest_first = reversed(proposals_of(http, headers, agent.agent.id))
    assert final["refunded"]["runs"] == [p["execution_id"] for p in oldest_first]


def test_without_langgraph_the_import_says_which_extra_to_install():
    hide_langgraph = (
        "import sys; sys.modules['langgraph'] = None; import supervision_client.langgraph"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide_langgraph], capture_output=True, text=True, timeout=WAIT_S
    )
    assert result.returncode == 1
    assert 'pip install "supervision-client[langgraph]"' in result.stderr


async def test_a_retried_async_node_does_not_run_the_approved_work_again(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    side_effects: list[dict] = []
    async with AsyncSupervisionClient(url, agent.api_key) as bot:

        @supervised_node(bot, "refund_order", parameters=asked)
        async def refund(state: Refund, run, parameters: dict[str, Any]) -> dict[str, Any]:
            side_effects.append(parameters)
            if len(side_effects) == 1:
                raise ConnectionError("flaky receipt printer")
            return {"refunded": parameters}

        builder = StateGraph(Refund)
        builder.add_node(
            "refund", refund, retry_policy=RetryPolicy(initial_interval=0.01, jitter=False)
        )
        builder.add_edge(START, "refund")
        graph = builder.compile(checkpointer=InMemorySaver())
        with pytest.raises(AlreadyRan) as refusal:
            await graph.ainvoke({"order": "M-1", "amount": 10}, thread())
        assert (await bot.execution(refusal.value.execution_id))["status"] == "failed"
    assert side_effects == [{"order": "M-1", "amount": 10}]


async def test_asks_side_by_side_in_one_node_are_each_their_own(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    async with AsyncSupervisionClient(url, agent.api_key) as bot:

        async def refund_both(state: Refund) -> dict[str, Any]:
            runs = await asyncio.gather(
                aask_supervisor(bot, "refund_order", {"order": "P-1", "amount": 1}),
                aask_supervisor(bot, "refund_order", {"order": "P-2", "amount": 2}),
            )
            for run in runs:
                await run.complete()
            return {"refunded": {"ran": [await run.parameters() for run in runs]}}

        builder = StateGraph(Refund)
        builder.add_node("refund_both", refund_both)
        builder.add_edge(START, "refund_both")
        graph = builder.compile(checkpointer=InMemorySaver())
        final = await graph.ainvoke({}, thread())
    # Each ask made its own run: the second did not get the first one's approval.
    assert final["refunded"]["ran"] == [
        {"order": "P-1", "amount": 1},
        {"order": "P-2", "amount": 2},
    ]


class Crash(BaseException):
    """The process dies mid-work (a kill, an out-of-memory): no `except Exception` sees it."""


def crashing_refund_graph(client, side_effects: list[dict], **options: Any):
    """A supervised node whose work happens, then the process 'dies' (the first time)."""

    @supervised_node(client, "refund_order", parameters=asked, **options)
    def refund(state: Refund, run, parameters: dict[str, Any]) -> dict[str, Any]:
        side_effects.append(parameters)
        if len(side_effects) == 1:
            raise Crash
        return {"refunded": parameters}

    builder = StateGraph(Refund)
    builder.add_node("refund", refund)
    builder.add_edge(START, "refund")
    return builder.compile(checkpointer=InMemorySaver())


def runs_of(http: httpx.Client, headers: dict, agent_id: int) -> list[dict]:
    """The agent's runs, oldest first."""
    response = http.get(f"/api/supervision/agents/{agent_id}/sessions", headers=headers)
    assert response.status_code == 200, response.text
    return sorted(response.json(), key=lambda run: run["id"])


def messages_of(run_id: int) -> list[str | None]:
    """What the run page lists (read from the database: its stream stays open while the run
    does)."""
    with read_scope() as session:
        query = select(ExecutionEvent.message).where(ExecutionEvent.execution_id == run_id)
        return list(session.exec(query.order_by(ExecutionEvent.seq)))


def test_work_cut_short_by_a_crash_is_not_run_again(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    side_effects: list[dict] = []
    graph, config = crashing_refund_graph(bot, side_effects), thread()
    with pytest.raises(Crash):
        graph.invoke({"order": "Q-1", "amount": 10}, config)
    with pytest.raises(AlreadyRan) as refusal:
        graph.invoke(None, config)  # the task that died runs again
    assert side_effects == [{"order": "Q-1", "amount": 10}]
    assert refusal.value.status == "running"
    assert "never reported its end" in refusal.value.reason


def test_after_a_crash_a_new_ask_waits_until_the_dashboard_gives_the_run_up(people, now):
    """The work may be done with only its report lost: asking again at once would do it twice
    with no human involved. Once the dashboard ends the run lost (RUN_LOST_AFTER_S, on the
    supervisor's screen), `ask_again_after_failure` asks again."""
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    side_effects: list[dict] = []
    graph = crashing_refund_graph(bot, side_effects, ask_again_after_failure=True)
    config = thread()
    with pytest.raises(Crash):
        graph.invoke({"order": "Q-2", "amount": 10}, config)
    with pytest.raises(AlreadyRan) as refusal:
        graph.invoke(None, config)
    assert refusal.value.status == "running" and "lost" in refusal.value.reason
    assert len(side_effects) == 1
    (cut_short,) = runs_of(http, headers, agent.agent.id)
    policy = LivenessPolicy(stale_after=timedelta(minutes=1), lost_after=timedelta(minutes=5))
    with session_scope() as session:  # the liveness pass, an hour on
        end_if_lost(
            session=session,
            execution_id=cut_short["id"],
            now=utcnow() + timedelta(hours=1),
            policy=policy,
        )
    assert graph.invoke(None, config)["refunded"] == {"order": "Q-2", "amount": 10}
    lost, again = runs_of(http, headers, agent.agent.id)
    assert (lost["status"], again["status"]) == ("lost", "completed")


def test_ask_supervisor_used_directly_never_runs_the_work_twice_on_a_retry(people, now):
    """The ask reports the start before handing the run over, so a retried node (the work
    done, then an error before any report) finds its run started and does not run again."""
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    done: list[int] = []

    def refund(state: Refund) -> dict[str, Any]:
        run = ask_supervisor(bot, "refund_order", {"order": "D-1"})
        done.append(run.execution_id)  # the refund happens here
        if len(done) == 1:
            raise ConnectionError("payment API reset after the charge")
        run.complete({"ok": True})
        return {"refunded": {"order": "D-1"}}

    builder = StateGraph(Refund)
    policy = RetryPolicy(max_attempts=2, initial_interval=0.01, jitter=False)
    builder.add_node("refund", refund, retry_policy=policy)
    builder.add_edge(START, "refund")
    graph = builder.compile(checkpointer=InMemorySaver())
    with pytest.raises(AlreadyRan):
        graph.invoke({}, thread())
    assert len(done) == 1


class ReorderingClient(AsyncSupervisionClient):
    """On the node's second execution the dashboard answers P-1's ask last: the asks reach
    their `interrupt()` in the other order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acts = 0

    async def act(self, action: str, parameters: Any = None, **kwargs: Any):
        self.acts += 1
        decision = await super().act(action, parameters, **kwargs)
        late = "P-2" if self.acts <= 2 else "P-1"
        await asyncio.sleep(0.3 if parameters["order"] == late else 0)
        return decision


async def test_asks_side_by_side_each_get_the_dashboards_decision_not_anothers(people, now):
    """Resume values reach `interrupt()` calls in call order, and asks side by side reach
    theirs in whatever order the dashboard answers: each ask acts on the dashboard's
    decision about itself, never on a resume value meant for another."""
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    outcomes: dict[str, str] = {}
    async with ReorderingClient(url, agent.api_key) as bot:

        async def ask(order: str) -> None:
            try:
                run = await aask_supervisor(bot, "refund_order", {"order": order})
                await run.complete()
                outcomes[order] = "ran"
            except AlreadyRan:
                pass  # done in an earlier execution of the node
            except NotApproved as refusal:
                outcomes[order] = f"{refusal.status}: {refusal.reason}"

        async def refund_both(state: Refund) -> dict[str, Any]:
            await asyncio.gather(ask("P-1"), ask("P-2"))
            return {}

        builder = StateGraph(Refund)
        builder.add_node("refund_both", refund_both)
        builder.add_edge(START, "refund_both")
        graph, config = builder.compile(checkpointer=InMemorySaver()), thread()
        await graph.ainvoke({}, config)
        async with asyncio.timeout(WAIT_S):  # both asks reached the dashboard
            while len(await asyncio.to_thread(proposals_of, http, headers, agent.agent.id)) < 2:
                await asyncio.sleep(0.05)
        for proposal in await asyncio.to_thread(proposals_of, http, headers, agent.agent.id):
            if proposal["parameters"]["order"] == "P-1":
                await decide(http, headers, proposal["id"], "reject", {"reason": "P-1 is fraud"})
            else:
                await decide(http, headers, proposal["id"], "approve", {})
        outcomes.clear()  # what counts is what the executions after the decisions do
        async with asyncio.timeout(WAIT_S):
            while pending_decisions(await graph.aget_state(config)):
                await aresume_decided(graph, config, bot, poll=0.05)
    assert outcomes == {"P-1": "rejected: P-1 is fraud", "P-2": "ran"}


def test_a_run_paused_before_its_work_starts_holds_it_and_then_counts_as_started(people, now):
    """Paused before the node's work: the work waits. Resumed: the run is started before the
    work runs, so a crash in the work is never followed by a second run of it."""
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)
    side_effects: list[dict] = []
    graph, config = crashing_refund_graph(bot, side_effects), thread()
    with ThreadPoolExecutor(1) as pool:
        # The graph looks for the decision every 2 s: time to pause the approved run first.
        finished = pool.submit(
            run_until_decided, graph, {"order": "R-1", "amount": 10}, config, bot, poll=2
        )
        until(lambda: proposals_of(http, headers, agent.agent.id), "a proposal")
        (proposal,) = proposals_of(http, headers, agent.agent.id)
        asyncio.run(decide(http, headers, proposal["id"], "approve", {}))
        run_id = proposals_of(http, headers, agent.agent.id)[0]["execution_id"]
        asyncio.run(steer(http, headers, run_id, "pause"))
        starts = "refund_order: the approved work starts"
        until(lambda: starts in messages_of(run_id), "the node's start report")
        assert bot.execution(run_id)["status"] == "paused"  # heard while paused: not started
        assert side_effects == [] and not finished.done()
        asyncio.run(steer(http, headers, run_id, "resume"))
        with pytest.raises(Crash):
            finished.result(WAIT_S)
    assert bot.execution(run_id)["status"] == "running"
    with pytest.raises(AlreadyRan):  # the crash lost the resume: it is asked and resumed again
        run_until_decided(graph, None, config, bot, poll=0.05)
    assert side_effects == [{"order": "R-1", "amount": 10}]


def test_an_interrupt_inside_the_approved_work_is_refused(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)

    @supervised_node(bot, "refund_order", parameters=asked)
    def refund(state: Refund, run, parameters: dict[str, Any]) -> dict[str, Any]:
        interrupt("which account?")  # on resume LangGraph would run the work again
        return {"refunded": parameters}

    builder = StateGraph(Refund)
    builder.add_node("refund", refund)
    builder.add_edge(START, "refund")
    graph = builder.compile(checkpointer=InMemorySaver())
    with pytest.raises(RuntimeError, match="ask the human before the supervised work"):
        graph.invoke({"order": "S-1", "amount": 1}, thread())
    (run,) = runs_of(http, headers, agent.agent.id)
    assert run["status"] == "failed" and "interrupt()" in run["error"]


def test_work_that_answers_the_parent_graph_completes_its_run(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    bot = SupervisionClient(url, agent.api_key)

    @supervised_node(bot, "refund_order", parameters=asked)
    def refund(state: Refund, run, parameters: dict[str, Any]) -> Any:
        return Command(graph=Command.PARENT, goto="tell", update={"refunded": parameters})

    inner = StateGraph(Refund)
    inner.add_node("refund", refund)
    inner.add_edge(START, "refund")
    outer = StateGraph(Refund)
    outer.add_node("refunds", inner.compile())
    outer.add_node("tell", lambda state: {"seen_by_next": [str(state["refunded"]["amount"])]})
    outer.add_edge(START, "refunds")
    graph = outer.compile(checkpointer=InMemorySaver())
    final = graph.invoke({"order": "U-1", "amount": 4}, thread())
    assert final["seen_by_next"] == ["4"]
    (run,) = runs_of(http, headers, agent.agent.id)
    assert run["status"] == "completed"
