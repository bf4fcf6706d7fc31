"""The agent client and a busy dashboard: a 429 (the agent's rate limit) or a 503 with
Retry-After (database busy) means nothing was done, so the same request is sent again after the
wait the server asked for — a few times, then the refusal is the caller's. The control watch
beside a long step retries such answers too, and stops asking once the run has ended.

Answers are scripted with httpx's MockTransport: the real API gives a 429 only after a minute's
worth of requests, and says to wait up to a minute."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from supervision_client import (
    AsyncSupervisionClient,
    Decision,
    SupervisionClient,
    SupervisionError,
)
from supervision_client._protocol import BUSY_RETRIES
from supervision_client._watch import ControlsLost, watched

APPROVED = {
    "decision": "approved_to_run",
    "level": "AUTONOMOUS",
    "reason": "ok",
    "request_id": 1,
    "execution_id": 7,
}


def busy_then(answer: dict, busy: int, status: int = 429, retry_after: str | None = "0"):
    """A transport that says "too busy" `busy` times, then gives `answer`; it counts requests."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) <= busy:
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return httpx.Response(status, json={"detail": "too many requests"}, headers=headers)
        return httpx.Response(200, json=answer)

    return httpx.MockTransport(handle), seen


def test_a_busy_answer_is_asked_again_with_the_same_request():
    transport, seen = busy_then(APPROVED, busy=2)
    client = SupervisionClient(
        "http://x", "sva_k", http=httpx.Client(base_url="http://x", transport=transport)
    )
    decision = client.act("refund", {"order": "A"}, idempotency_key="k-1")
    assert decision.execution_id == 7
    assert len(seen) == 3
    assert {json.loads(r.content)["idempotency_key"] for r in seen} == {"k-1"}


@pytest.mark.parametrize("status", [429, 503])
async def test_the_async_client_waits_out_busy_answers_then_gives_up(status):
    transport, seen = busy_then(APPROVED, busy=BUSY_RETRIES + 1, status=status)
    http = httpx.AsyncClient(base_url="http://x", transport=transport)
    async with AsyncSupervisionClient("http://x", "sva_k", http=http) as client:
        with pytest.raises(SupervisionError) as busy:
            await client.act("refund", {"order": "A"})
    assert busy.value.status == status and busy.value.transient
    assert busy.value.retry_after == 0
    assert len(seen) == BUSY_RETRIES + 1


def test_a_503_without_retry_after_is_not_sent_again():
    """Without Retry-After the server did not say nothing was written: not resent."""
    transport, seen = busy_then(APPROVED, busy=1, status=503, retry_after=None)
    client = SupervisionClient(
        "http://x", "sva_k", http=httpx.Client(base_url="http://x", transport=transport)
    )
    with pytest.raises(SupervisionError):
        client.act("refund", {})
    assert len(seen) == 1


def control_answers(status: str, busy: int = 0):
    """The control route of one run: `busy` answers 429 (retry at once), then `status` after a
    moment (a long poll that heard nothing)."""
    seen: list[httpx.Request] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) <= busy:
            return httpx.Response(429, json={"detail": "slow down"}, headers={"Retry-After": "0"})
        await asyncio.sleep(0.05)
        return httpx.Response(200, json={"status": status, "paused": False, "controls": []})

    return httpx.MockTransport(handle), seen


async def test_the_watch_stops_asking_once_the_run_has_ended():
    transport, seen = control_answers("completed")
    http = httpx.AsyncClient(base_url="http://x", transport=transport)
    async with AsyncSupervisionClient("http://x", "sva_k", http=http) as client:
        assert await watched(client.run(7), asyncio.sleep(0.3, "done")) == "done"
    assert len(seen) == 1


async def test_the_watch_outlasts_rate_limits_but_not_a_refusal():
    # 429s beyond the client's own retries reach the watch, which waits and keeps going
    # (the step ends first: a watch that gave up would have cancelled it).
    transport, seen = control_answers("running", busy=BUSY_RETRIES + 2)
    http = httpx.AsyncClient(base_url="http://x", transport=transport)
    async with AsyncSupervisionClient("http://x", "sva_k", http=http) as client:
        assert await watched(client.run(7), asyncio.sleep(0.5, "done")) == "done"
    assert len(seen) == BUSY_RETRIES + 1

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"detail": "not your run"})

    http = httpx.AsyncClient(base_url="http://x", transport=httpx.MockTransport(refuse))
    async with AsyncSupervisionClient("http://x", "sva_k", http=http) as client:
        with pytest.raises(ControlsLost) as lost:
            await watched(client.run(7), asyncio.sleep(30))
    assert isinstance(lost.value.__cause__, SupervisionError)


async def test_a_steps_own_http_error_is_its_own_not_the_dashboards():
    transport, _ = control_answers("running")
    http = httpx.AsyncClient(base_url="http://x", transport=transport)

    async def step() -> None:
        raise httpx.ConnectError("the shop's API is down")

    async with AsyncSupervisionClient("http://x", "sva_k", http=http) as client:
        with pytest.raises(httpx.ConnectError, match="shop"):
            await watched(client.run(7), step())


@pytest.mark.parametrize(
    ("timeout", "poll"), [(float("nan"), 1), (float("inf"), 1), (5, 0), (-1, 1)]
)
def test_a_wait_that_could_not_end_or_would_hammer_the_dashboard_is_refused(timeout, poll):
    client = SupervisionClient("http://x", "sva_k", http=httpx.Client(base_url="http://x"))
    waiting = Decision("proposed", "INTERN", "", 1, proposal_id=4)
    with pytest.raises(ValueError):
        client.wait_for_decision(waiting, timeout=timeout, poll=poll)


async def test_failed_looks_do_not_outlast_the_waits_timeout():
    """The dashboard answers 500 to every look: the wait ends at its timeout, not after the
    poll interval times the failures it tolerates."""

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"detail": "boom"})

    http = httpx.AsyncClient(base_url="http://x", transport=httpx.MockTransport(broken))
    waiting = Decision("proposed", "INTERN", "", 1, proposal_id=4)
    async with AsyncSupervisionClient("http://x", "sva_k", http=http) as client:
        with pytest.raises(TimeoutError):
            await client.wait_for_decision(waiting, timeout=0.2, poll=30)
