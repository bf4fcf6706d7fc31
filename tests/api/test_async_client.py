"""The async client (clients/python, `AsyncSupervisionClient`) against the API over real HTTP:
a decision reaches the agent and sticks — approve with edits, reject, pause, correct,
terminate — without blocking the agent's event loop."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from supervision_client import AsyncSupervisionClient, NotApproved, Terminated

from tests.api.conftest import sign_in
from tests.api.test_governance_api import go_online
from tests.api.test_stream_api import live_server  # noqa: F401  (the fixture)
from tests.factories import make_agent, make_user


@pytest.fixture
def people(live_server, now):  # noqa: F811
    """A supervisor online in the dashboard, and their HTTP session."""
    supervisor = make_user(now)
    http = httpx.Client(base_url=live_server, timeout=10)
    headers = go_online(http, supervisor)
    yield live_server, supervisor, http, headers
    http.close()


async def decide(http: httpx.Client, headers: dict, proposal_id: int, verb: str, body: dict):
    response = await asyncio.to_thread(
        http.post, f"/api/supervision/proposals/{proposal_id}/{verb}", json=body, headers=headers
    )
    assert response.status_code == 200, response.text


async def steer(http: httpx.Client, headers: dict, run_id: int, kind: str, text=None):
    response = await asyncio.to_thread(
        http.post,
        f"/api/supervision/sessions/{run_id}/intervene",
        json={"kind": kind, "text": text},
        headers=headers,
    )
    assert response.status_code == 200, response.text


async def test_an_intern_waits_and_runs_with_the_edited_parameters(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    async with AsyncSupervisionClient(url, agent.api_key) as bot:
        decision = await bot.act("refund_order", {"order": "A-1", "amount": 400})
        assert decision.decision == "proposed"
        waiting = asyncio.create_task(bot.wait_for_decision(decision, poll=0.05))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # waits, and the loop keeps running meanwhile
        edited = {"parameters": {"order": "A-1", "amount": 40}}
        await decide(http, headers, decision.proposal_id, "approve", edited)
        run = await asyncio.wait_for(waiting, 10)
        assert await run.parameters() == {"order": "A-1", "amount": 40}
        await run.log("refunded")
        await run.complete({"refunded": 40})
        assert run.status == "completed"

        rejected = await bot.act("refund_order", {"order": "A-2", "amount": 9000})
        await decide(http, headers, rejected.proposal_id, "reject", {"reason": "too much"})
        with pytest.raises(NotApproved) as refusal:
            await bot.wait_for_decision(rejected, poll=0.05)
        assert refusal.value.status == "rejected" and refusal.value.reason == "too much"


async def test_pause_holds_a_report_a_correction_arrives_and_terminate_stops(people, now):
    url, supervisor, http, headers = people
    agent = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    async with AsyncSupervisionClient(url, agent.api_key) as bot:
        decision = await bot.act("draft_reply", {"ticket": 7})
        assert decision.decision == "approved_to_run"
        run = await bot.wait_for_decision(decision)
        await run.log("started")
        await steer(http, headers, run.execution_id, "pause")
        await steer(http, headers, run.execution_id, "correction", "use the formal tone")
        report = asyncio.create_task(run.progress("draft", 1, 2))
        await asyncio.sleep(0.5)
        assert not report.done() and run.paused  # held while paused
        assert run.corrections == ["use the formal tone"]
        await steer(http, headers, run.execution_id, "resume")
        await asyncio.wait_for(report, 40)
        assert not run.paused
        await steer(http, headers, run.execution_id, "terminate", "wrong customer")
        with pytest.raises(Terminated) as stop:
            await run.log("still going")
        assert stop.value.reason == "wrong customer"
        shown = await asyncio.to_thread(
            http.get, "/api/supervision/sessions/active", headers=sign_in(http, supervisor.username)
        )
        assert run.execution_id not in [r["id"] for r in shown.json()]
