"""The asyncio client: for agents built on async frameworks (OpenAI Agents SDK, LangGraph,
MCP servers). Same calls as the blocking client, awaited; the control bookkeeping is shared."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from supervision_client._protocol import (
    Decision,
    RunBook,
    SupervisionError,
    Terminated,
    action_body,
    busy_wait,
    check_wait,
    control_params,
    decision_from,
    decision_path,
    json_or_none,
    log_event,
    output_event,
    passing,
    progress_event,
    raise_for,
    runnable_execution,
)

logger = logging.getLogger("supervision_client")
ASK_AGAIN_WITHIN_S = 15.0  # how long a give-up waits to learn which ask it withdraws


class AsyncSupervisionClient:
    """Talks to the supervision API as one agent, without blocking the event loop."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 40.0,
    ) -> None:
        self._http = http or httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
        self._headers = {"Authorization": f"Bearer {api_key}"}

    async def __aenter__(self) -> AsyncSupervisionClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; sent again while the server says it is too busy (see `busy_wait`)."""
        attempt = 0
        while True:
            response = await self._http.request(method, path, headers=self._headers, **kwargs)
            wait = busy_wait(response, attempt)
            if wait is None:
                return response
            attempt += 1
            await asyncio.sleep(wait)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        raise_for(response)
        return response.json()

    async def me(self) -> dict[str, Any]:
        """Who am I: my level, my supervisor and whether they are available."""
        return await self._json("GET", "/api/v1/agents/me")

    async def act(
        self,
        action: str,
        parameters: dict[str, Any] | None = None,
        *,
        reason: str = "",
        priority: int = 0,
        idempotency_key: str | None = None,
    ) -> Decision:
        """Ask to act. Raises `Blocked` when refused; retries reuse one idempotency key."""
        body = action_body(action, parameters, reason, priority, idempotency_key)
        return decision_from(await self._request("POST", "/api/v1/actions", json=body))

    async def register_callback(self, url: str | None) -> dict[str, Any]:
        """Receive signed POSTs when a proposal is decided or queued work is dispatched."""
        return await self._json("PUT", "/api/v1/agents/me/callback", json={"url": url})

    def run(self, execution_id: int) -> AsyncRun:
        return AsyncRun(client=self, execution_id=execution_id)

    async def wait_for_decision(
        self,
        decision: Decision,
        *,
        timeout: float = 3600,
        poll: float = 2.0,
        on_wait: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> AsyncRun:
        """Wait until the action may run (approval, dispatch) and return its `AsyncRun`.

        `on_wait` is awaited with each undecided status (the proposal or queue entry as the
        API shows it), so a caller can tell its own user what it is waiting for."""
        if decision.execution_id:
            return self.run(decision.execution_id)
        check_wait(timeout, poll)
        path, kind = decision_path(decision)
        deadline = time.monotonic() + timeout
        failures = 0
        while True:
            try:
                status = await self._json("GET", path)
                failures = 0
            except (httpx.TransportError, SupervisionError) as error:
                if not passing(error, failures := failures + 1):
                    raise
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{kind} undecided after {timeout} s") from error
                await asyncio.sleep(max(0.0, min(poll, deadline - time.monotonic())))
                continue
            execution_id = runnable_execution(status, kind)
            if execution_id is not None:
                return self.run(execution_id)
            if on_wait is not None:
                await on_wait(status)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{kind} still {status['status']} after {timeout} s")
            await asyncio.sleep(max(0.0, min(poll, deadline - time.monotonic())))

    async def withdraw(self, decision: Decision, reason: str = "") -> dict[str, Any]:
        """Give up on an ask still waiting for a decision (the caller cancelled, the wait timed
        out): nobody can approve it any more, and it leaves every inbox. When it was approved
        or dispatched first, the dashboard ends its run too if nothing of this agent picked it
        up. Returns where the ask stands (the API's answer); {} when nothing waited."""
        if decision.execution_id or not (decision.proposal_id or decision.queue_entry_id):
            return {}  # nothing waits
        path, _kind = decision_path(decision)
        return await self._json("POST", f"{path}/withdraw", json={"reason": reason})

    async def work(self, limit: int = 1) -> list[AsyncRun]:
        """Runs that became runnable for me, oldest first (see `SupervisionClient.work`)."""
        items = await self._json("GET", "/api/v1/agents/me/work", params={"limit": limit})
        return [
            AsyncRun(client=self, execution_id=item["execution"]["id"], details=item["execution"])
            for item in items
        ]

    async def execution(self, execution_id: int) -> dict[str, Any]:
        return await self._json("GET", f"/api/v1/executions/{execution_id}")


async def give_up(client: AsyncSupervisionClient, decision: Decision, why: str) -> None:
    """Withdraw an ask its caller stopped waiting for (cancelled, timed out, the dashboard
    lost), so nobody approves work that would never start. Shielded from the cancellation
    that brought us here and bounded: a dashboard that does not answer leaves the ask to
    expire on its own."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(5):
        try:
            await client.withdraw(decision, why)
        except (httpx.HTTPError, SupervisionError) as error:
            logger.warning("could not withdraw the ask (%s): %s", why, error)


async def give_up_unanswered(client: AsyncSupervisionClient, ask: dict[str, Any], why: str) -> None:
    """Withdraw an ask whose answer never came (cancelled, or the answer lost, while `act` was
    under way): the same ask again — same idempotency key, so the dashboard answers with the
    first one's decision — names it; a waiting one is withdrawn, a run it was given at once
    is ended. `ask` holds `act`'s arguments."""
    decision: Decision | None = None
    with anyio.CancelScope(shield=True), anyio.move_on_after(ASK_AGAIN_WITHIN_S):
        try:
            decision = await client.act(**ask)
        except (httpx.HTTPError, SupervisionError) as error:  # Blocked too: nothing waits
            logger.warning("could not withdraw the unanswered ask (%s): %s", why, error)
    if decision is None:
        logger.warning("could not withdraw the unanswered ask (%s): no answer", why)
    elif decision.execution_id is not None:
        await end_cancelled(client.run(decision.execution_id), why)
    else:
        await give_up(client, decision, why)


async def ask_leaving_nothing_behind(
    client: AsyncSupervisionClient, ask: dict[str, Any], *, why_cancelled: Callable[[], str]
) -> Decision:
    """`client.act(**ask)` (give `ask` an idempotency key) for a caller that may stop before
    the answer: cancelled, or the answer lost on the way, the ask is withdrawn (a run given
    at once is ended), so nobody approves work nobody waits for."""
    try:
        return await client.act(**ask)
    except anyio.get_cancelled_exc_class():
        await give_up_unanswered(client, ask, why_cancelled())
        raise
    except httpx.TransportError as lost:
        if may_have_arrived(lost):
            await give_up_unanswered(client, ask, f"the answer was lost: {lost}")
        raise
    except SupervisionError as failed:
        if _may_have_been_taken(failed):
            await give_up_unanswered(client, ask, f"the answer was an error: {failed.status}")
        raise


def _may_have_been_taken(error: SupervisionError) -> bool:
    """A server error (a proxy's 502 / 504 among them) may come after the dashboard took the
    ask; a "too busy" answer with Retry-After comes before anything is written."""
    return error.status >= 500 and error.retry_after is None


async def wait_or_withdraw(
    client: AsyncSupervisionClient,
    decision: Decision,
    *,
    timeout: float,
    poll: float,
    why_cancelled: Callable[[], str],
    on_wait: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> AsyncRun:
    """`client.wait_for_decision`, withdrawing the ask when the wait ends without a run:
    cancelled, no decision within `timeout`, or the dashboard lost (a refusal is an answer,
    not a reason to withdraw). The error goes on to the caller."""
    try:
        return await client.wait_for_decision(decision, timeout=timeout, poll=poll, on_wait=on_wait)
    except anyio.get_cancelled_exc_class():
        await give_up(client, decision, why_cancelled())
        raise
    except TimeoutError:
        await give_up(client, decision, f"no decision within {timeout:g} s")
        raise
    except (httpx.HTTPError, SupervisionError) as lost:
        if not isinstance(lost, SupervisionError) or lost.transient:
            await give_up(client, decision, f"the dashboard was lost: {lost}")
        raise


def may_have_arrived(error: httpx.TransportError) -> bool:
    """Whether a request that failed this way may still have reached the dashboard (its answer
    lost): only a connection never made is sure not to have."""
    return not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)


async def end_cancelled(run: AsyncRun, why: str) -> None:
    """A step was cancelled (its caller gave up, the agent stopped): end its run as failed
    rather than leave it "running" until it is found stale. Shielded and bounded: the
    cancellation goes on right after."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(5):
        with contextlib.suppress(httpx.HTTPError, SupervisionError, Terminated):
            await run.fail(why)


@dataclass(kw_only=True)
class AsyncRun(RunBook):
    """One execution, awaited: while paused, each report waits until resumed; `terminate` (or a
    run that ended without us) raises `Terminated`."""

    client: AsyncSupervisionClient

    async def parameters(self) -> dict[str, Any]:
        """The parameters to run with: the approved ones, edited by the supervisor or not."""
        if self.details is None:
            self.details = await self.client.execution(self.execution_id)
        return dict(self.details.get("parameters") or {})

    async def send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send a batch of events; apply and return the controls that came back."""
        while True:
            ack = self._take_acknowledgements()
            try:
                response = await self.client._request(
                    "POST", self.events_path, json={"events": events, "ack": ack}
                )
            except BaseException:
                self._say_again(ack)
                raise
            body = json_or_none(response)
            if response.status_code == 409 and body and "status" in body:
                await self._apply(body)
                if self._already_done(events):
                    return body.get("controls", [])
                if not self.paused:
                    raise SupervisionError(409, str(body.get("detail")))
                await self._wait_while_paused()
                events = events[body.get("accepted", 0) :]
                continue
            if not response.is_success:
                self._say_again(ack)
            raise_for(response)
            assert body is not None
            self.last_seq = body["last_seq"]
            await self._apply(body)
            await self._wait_while_paused()
            return body.get("controls", [])

    async def _apply(self, state: dict[str, Any]) -> None:
        stop = self._absorb(state)
        if stop is not None:
            await self._acknowledge_quietly()
            raise stop

    async def _wait_while_paused(self) -> None:
        while self.paused and not self.ended:
            await self.wait_for_control(30)

    async def check_in(self) -> None:
        """Say "still here" during a long step; any control is applied now."""
        await self.wait_for_control(0)
        await self._wait_while_paused()

    async def wait_for_control(self, wait: float = 30) -> list[dict[str, Any]]:
        """Long-poll for controls (acknowledging those applied); apply and return them."""
        ack = self._take_acknowledgements()
        try:
            state = await self.client._json(
                "GET", self.control_path, params=control_params(wait, ack)
            )
        except BaseException:
            self._say_again(ack)
            raise
        await self._apply(state)
        return state.get("controls", [])

    async def _acknowledge_quietly(self) -> None:
        ack = self._take_acknowledgements()
        if ack:
            with contextlib.suppress(httpx.HTTPError):
                await self.client._request("GET", self.control_path, params=control_params(0, ack))

    async def log(
        self, message: str, level: str = "info", data: dict[str, Any] | None = None
    ) -> None:
        await self.send([log_event(message, level, data)])

    async def progress(
        self,
        step: str,
        step_index: int,
        total_steps: int,
        *,
        percent: float | None = None,
        steps: list[str] | None = None,
    ) -> None:
        await self.send([progress_event(step, step_index, total_steps, percent, steps)])

    async def output(self, kind: str, data: Any, title: str | None = None) -> None:
        await self.send([output_event(kind, data, title)])

    async def complete(self, result: Any = None) -> None:
        await self.send([{"type": "completed", "result": result}])

    async def fail(self, error: str) -> None:
        await self.send([{"type": "failed", "error": error}])
