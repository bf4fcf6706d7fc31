"""The blocking client: for agents written as plain Python (threads, scripts, workers)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from supervision_client._protocol import (
    Decision,
    RunBook,
    SupervisionError,
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


class SupervisionClient:
    """Talks to the supervision API as one agent (authenticated by its API key)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 40.0,
    ) -> None:
        self._http = http or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._headers = {"Authorization": f"Bearer {api_key}"}

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; sent again while the server says it is too busy (see `busy_wait`)."""
        attempt = 0
        while True:
            response = self._http.request(method, path, headers=self._headers, **kwargs)
            wait = busy_wait(response, attempt)
            if wait is None:
                return response
            attempt += 1
            time.sleep(wait)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        raise_for(response)
        return response.json()

    def me(self) -> dict[str, Any]:
        """Who am I: my level, my supervisor and whether they are available."""
        return self._json("GET", "/api/v1/agents/me")

    def act(
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
        return decision_from(self._request("POST", "/api/v1/actions", json=body))

    def register_callback(self, url: str | None) -> dict[str, Any]:
        """Receive signed POSTs when a proposal is decided or queued work is dispatched.

        Check each with `verify_signature(webhook_secret, raw_body, signature_header)`; the
        signature is in the `X-Supervision-Signature` header.
        """
        return self._json("PUT", "/api/v1/agents/me/callback", json={"url": url})

    def run(self, execution_id: int) -> Run:
        return Run(client=self, execution_id=execution_id)

    def wait_for_decision(
        self,
        decision: Decision,
        *,
        timeout: float = 3600,
        poll: float = 2.0,
        on_wait: Callable[[dict[str, Any]], None] | None = None,
    ) -> Run:
        """Wait until the action may run (approval, dispatch) and return its `Run`; the run's
        `parameters()` are the approved ones (a supervisor may have edited them). `on_wait` is
        called with each undecided status, to tell a user what the agent waits for."""
        if decision.execution_id:
            return self.run(decision.execution_id)
        check_wait(timeout, poll)
        path, kind = decision_path(decision)
        deadline = time.monotonic() + timeout
        failures = 0
        while True:
            try:
                status = self._json("GET", path)
                failures = 0
            except (httpx.TransportError, SupervisionError) as error:
                if not passing(error, failures := failures + 1):
                    raise
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{kind} undecided after {timeout} s") from error
                time.sleep(max(0.0, min(poll, deadline - time.monotonic())))
                continue
            execution_id = runnable_execution(status, kind)
            if execution_id is not None:
                return self.run(execution_id)
            if on_wait is not None:
                on_wait(status)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{kind} still {status['status']} after {timeout} s")
            time.sleep(max(0.0, min(poll, deadline - time.monotonic())))

    def withdraw(self, decision: Decision, reason: str = "") -> dict[str, Any]:
        """Give up on an ask still waiting for a decision (the caller cancelled, the wait timed
        out): nobody can approve it any more, and it leaves every inbox. When it was approved
        or dispatched first, the dashboard ends its run too if nothing of this agent picked it
        up. Returns where the ask stands (the API's answer); {} when nothing waited."""
        if decision.execution_id or not (decision.proposal_id or decision.queue_entry_id):
            return {}  # nothing waits
        path, _kind = decision_path(decision)
        return self._json("POST", f"{path}/withdraw", json={"reason": reason})

    def work(self, limit: int = 1) -> list[Run]:
        """Runs that became runnable for me (approved proposals, dispatched queue work), oldest
        first. Each must be started within RUN_LOST_AFTER_S of being handed out: ask for as
        many as you will start right away."""
        items = self._json("GET", "/api/v1/agents/me/work", params={"limit": limit})
        return [
            Run(client=self, execution_id=item["execution"]["id"], details=item["execution"])
            for item in items
        ]

    def execution(self, execution_id: int) -> dict[str, Any]:
        return self._json("GET", f"/api/v1/executions/{execution_id}")


@dataclass(kw_only=True)
class Run(RunBook):
    """One execution: report events; controls from the supervisor are applied as they arrive.

    While the run is paused, reports block until a supervisor resumes it (a refused report is
    sent again then); `terminate`, or a run that ended without us (lost), raises `Terminated`.
    """

    client: SupervisionClient

    def parameters(self) -> dict[str, Any]:
        """The parameters to run with: the approved ones, edited by the supervisor or not."""
        if self.details is None:
            self.details = self.client.execution(self.execution_id)
        return dict(self.details.get("parameters") or {})

    def send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send a batch of events; apply and return the controls that came back."""
        while True:
            ack = self._take_acknowledgements()
            try:
                response = self.client._request(
                    "POST", self.events_path, json={"events": events, "ack": ack}
                )
            except BaseException:
                self._say_again(ack)  # not received
                raise
            body = json_or_none(response)
            if response.status_code == 409 and body and "status" in body:
                # Refused, but answered with the run's state (our acknowledgements counted).
                self._apply(body)
                if self._already_done(events):
                    return body.get("controls", [])
                if not self.paused:
                    raise SupervisionError(409, str(body.get("detail")))
                self._wait_while_paused()
                events = events[body.get("accepted", 0) :]  # what was not stored yet
                continue
            if not response.is_success:
                self._say_again(ack)
            raise_for(response)
            assert body is not None
            self.last_seq = body["last_seq"]
            self._apply(body)
            self._wait_while_paused()
            return body.get("controls", [])

    def _apply(self, state: dict[str, Any]) -> None:
        stop = self._absorb(state)
        if stop is not None:
            self._acknowledge_quietly()
            raise stop

    def _wait_while_paused(self) -> None:
        while self.paused and not self.ended:
            self.wait_for_control(30)

    def check_in(self) -> None:
        """Say "still here" during a long step with nothing to report: the run stays alive
        (a run silent for RUN_LOST_AFTER_S ends lost), and any control is applied now."""
        self.wait_for_control(0)
        self._wait_while_paused()

    def wait_for_control(self, wait: float = 30) -> list[dict[str, Any]]:
        """Long-poll for controls (acknowledging those applied); apply and return them."""
        ack = self._take_acknowledgements()
        try:
            state = self.client._json("GET", self.control_path, params=control_params(wait, ack))
        except BaseException:
            self._say_again(ack)
            raise
        self._apply(state)
        return state.get("controls", [])

    def _acknowledge_quietly(self) -> None:
        """Tell the server the stop was seen; it is not sent again (best effort)."""
        ack = self._take_acknowledgements()
        if ack:
            with contextlib.suppress(httpx.HTTPError):
                self.client._request("GET", self.control_path, params=control_params(0, ack))

    def log(self, message: str, level: str = "info", data: dict[str, Any] | None = None) -> None:
        self.send([log_event(message, level, data)])

    def progress(
        self,
        step: str,
        step_index: int,
        total_steps: int,
        *,
        percent: float | None = None,
        steps: list[str] | None = None,
    ) -> None:
        self.send([progress_event(step, step_index, total_steps, percent, steps)])

    def output(self, kind: str, data: Any, title: str | None = None) -> None:
        """Partial or final output: kind is json, text, table or chart."""
        self.send([output_event(kind, data, title)])

    def complete(self, result: Any = None) -> None:
        self.send([{"type": "completed", "result": result}])

    def fail(self, error: str) -> None:
        self.send([{"type": "failed", "error": error}])
