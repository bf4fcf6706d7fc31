"""A small client for agents: ask to act, report what you do, obey your supervisor.

Depends only on httpx. Example::

    from supervision_app.client import SupervisionClient, Terminated

    client = SupervisionClient("http://localhost:3000", api_key="sva_...")
    decision = client.act("send_email", {"to": "a@example.com"}, reason="customer asked")
    run = client.wait_for_decision(decision)      # returns at once when approved_to_run
    try:
        run.progress("drafting", 0, 2)
        run.log("draft ready")
        run.output("text", "Hello!")
        run.complete({"sent": True})
    except Terminated as stop:
        print("supervisor stopped me:", stop.reason)
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "Blocked",
    "Decision",
    "NotApproved",
    "Run",
    "SupervisionClient",
    "SupervisionError",
    "Terminated",
    "verify_signature",
]


class SupervisionError(Exception):
    """The server refused a request; `status`, `detail` and `field` say why."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(f"{status}: {detail}" + (f" ({field})" if field else ""))
        self.status = status
        self.detail = detail
        self.field = field


class Blocked(SupervisionError):
    """The governance check refused the action (e.g. a STUDENT agent)."""


class NotApproved(Exception):
    """A proposal was rejected or expired, or a queue entry was cancelled, expired or failed."""

    def __init__(self, kind: str, status: str, reason: str | None) -> None:
        super().__init__(f"{kind} {status}: {reason or 'no reason given'}")
        self.kind = kind
        self.status = status
        self.reason = reason


class Terminated(Exception):
    """The supervisor terminated the run: stop at once."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason or "terminated by supervisor")
        self.reason = reason


@dataclass(frozen=True)
class Decision:
    decision: str
    level: str
    reason: str
    request_id: int
    proposal_id: int | None = None
    queue_entry_id: int | None = None
    execution_id: int | None = None
    replayed: bool = False


def verify_signature(webhook_secret: str, body: bytes, signature_header: str) -> bool:
    """Check a callback's `X-Supervision-Signature` (HMAC-SHA256 of the raw body)."""
    import hashlib
    import hmac

    expected = "sha256=" + hmac.new(webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature_header)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    detail = body.get("detail") or body.get("reason") or response.reason_phrase
    raise SupervisionError(response.status_code, str(detail), body.get("field"))


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
        return self._http.request(method, path, headers=self._headers, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        _raise_for(response)
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
        body = {
            "action": action,
            "parameters": parameters or {},
            "reason": reason,
            "priority": priority,
            "idempotency_key": idempotency_key or uuid.uuid4().hex,
        }
        response = self._request("POST", "/api/v1/actions", json=body)
        if response.status_code == 403 and "decision" in response.text:
            data = response.json()
            raise Blocked(403, data.get("reason", "blocked"))
        _raise_for(response)
        data = response.json()
        return Decision(**{k: data.get(k) for k in Decision.__dataclass_fields__})

    def register_callback(self, url: str | None) -> dict[str, Any]:
        """Receive signed POSTs when a proposal is decided or queued work is dispatched.

        Check each with `verify_signature(webhook_secret, raw_body, signature_header)`; the
        signature is in the `X-Supervision-Signature` header.
        """
        return self._json("PUT", "/api/v1/agents/me/callback", json={"url": url})

    def run(self, execution_id: int) -> Run:
        return Run(self, execution_id)

    def wait_for_decision(
        self, decision: Decision, *, timeout: float = 3600, poll: float = 2.0
    ) -> Run:
        """Wait until the action may run (approval, dispatch) and return its `Run`."""
        if decision.execution_id:
            return self.run(decision.execution_id)
        if decision.proposal_id:
            path, kind = f"/api/v1/proposals/{decision.proposal_id}", "proposal"
        elif decision.queue_entry_id:
            path, kind = f"/api/v1/queue/{decision.queue_entry_id}", "queue entry"
        else:
            raise NotApproved("action", decision.decision, decision.reason)
        deadline = time.monotonic() + timeout
        while True:
            status = self._json("GET", path)
            if status.get("execution_id") and status["status"] in ("approved", "executing"):
                return self.run(status["execution_id"])
            if status["status"] in ("rejected", "expired", "cancelled", "failed"):
                raise NotApproved(kind, status["status"], status.get("reason"))
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{kind} still {status['status']} after {timeout} s")
            time.sleep(poll)

    def work(self, limit: int = 1) -> list[Run]:
        """Runs that became runnable for me (approved proposals, dispatched queue work), oldest
        first. Each must be started within RUN_LOST_AFTER_S of being handed out: ask for as
        many as you will start right away."""
        items = self._json("GET", "/api/v1/agents/me/work", params={"limit": limit})
        return [Run(self, item["execution"]["id"], item["execution"]) for item in items]

    def execution(self, execution_id: int) -> dict[str, Any]:
        return self._json("GET", f"/api/v1/executions/{execution_id}")


_STOPPED_BY_OTHERS = ("terminated", "lost")


@dataclass
class Run:
    """One execution: report events; controls from the supervisor are applied as they arrive.

    Every answer carries the run's state and the controls not yet acknowledged; each control
    is applied once (by id) and acknowledged with the next request, so a lost answer loses no
    control. While the run is paused, reports block until a supervisor resumes it (a refused
    report is sent again then); a `correction` is kept in `corrections` (and passed to
    `on_correction`); `terminate`, or a run that ended without us (lost), raises `Terminated`.
    """

    client: SupervisionClient
    execution_id: int
    details: dict[str, Any] | None = None
    corrections: list[str] = field(default_factory=list)
    on_correction: Callable[[str], None] | None = None
    paused: bool = False
    status: str | None = None
    last_seq: int = 0
    _applied: set[int] = field(default_factory=set)
    _unacknowledged: list[int] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.status in ("completed", "failed", "terminated", "lost")

    def send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send a batch of events; apply and return the controls that came back."""
        while True:
            ack = self._take_acknowledgements()
            try:
                response = self.client._request(
                    "POST",
                    f"/api/v1/executions/{self.execution_id}/events",
                    json={"events": events, "ack": ack},
                )
            except BaseException:
                self._unacknowledged[:0] = ack  # not received: say it again next time
                raise
            body = _json_or_none(response)
            if response.status_code == 409 and body and "status" in body:
                # Refused, but answered with the run's state (our acknowledgements counted).
                self._apply_state(body)
                if self._already_done(events):
                    return body.get("controls", [])
                if not self.paused:
                    raise SupervisionError(409, str(body.get("detail")))
                self._wait_while_paused()
                events = events[body.get("accepted", 0) :]  # what was not stored yet
                continue
            if not response.is_success:
                self._unacknowledged[:0] = ack
            _raise_for(response)
            assert body is not None
            self.last_seq = body["last_seq"]
            self._apply_state(body)
            self._wait_while_paused()
            return body.get("controls", [])

    def _take_acknowledgements(self) -> list[int]:
        ack, self._unacknowledged = self._unacknowledged, []
        return ack

    def _already_done(self, events: list[dict[str, Any]]) -> bool:
        """Our own final report was stored before (its answer was lost): nothing to resend."""
        final = events[-1]["type"] if events else None
        return final in ("completed", "failed") and self.status == final

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
        params: dict[str, Any] = {"wait": min(wait, 30)}
        if ack:
            params["ack"] = ",".join(str(i) for i in ack)
        try:
            state = self.client._json(
                "GET", f"/api/v1/executions/{self.execution_id}/control", params=params
            )
        except BaseException:
            self._unacknowledged[:0] = ack
            raise
        self._apply_state(state)
        return state.get("controls", [])

    def _apply_state(self, state: dict[str, Any]) -> None:
        self.status = state.get("status", self.status)
        stop: dict[str, Any] | None = None
        for control in state.get("controls", []):
            if control["id"] in self._applied:
                # Sent again: our acknowledgement was lost. Acknowledge it again, once.
                if control["id"] not in self._unacknowledged:
                    self._unacknowledged.append(control["id"])
                continue
            self._applied.add(control["id"])
            self._unacknowledged.append(control["id"])
            kind = control["type"]
            if kind == "terminate":
                stop = control
            elif kind == "correction" and control.get("text"):
                self.corrections.append(control["text"])
                if self.on_correction is not None:
                    self.on_correction(control["text"])
        self.paused = bool(state.get("paused"))
        if stop is not None or self.status in _STOPPED_BY_OTHERS:
            self._acknowledge_quietly()
            reason = (stop or {}).get("text") or state.get("reason")
            raise Terminated(reason)

    def _acknowledge_quietly(self) -> None:
        """Tell the server the stop was seen; it is not sent again (best effort)."""
        ack = self._take_acknowledgements()
        if not ack:
            return
        with contextlib.suppress(httpx.HTTPError):
            self.client._request(
                "GET",
                f"/api/v1/executions/{self.execution_id}/control",
                params={"wait": 0, "ack": ",".join(str(i) for i in ack)},
            )

    def log(self, message: str, level: str = "info", data: dict[str, Any] | None = None) -> None:
        event: dict[str, Any] = {"type": "log", "level": level, "message": message}
        if data is not None:
            event["data"] = data
        self.send([event])

    def progress(
        self,
        step: str,
        step_index: int,
        total_steps: int,
        *,
        percent: float | None = None,
        steps: list[str] | None = None,
    ) -> None:
        event: dict[str, Any] = {
            "type": "progress",
            "step": step,
            "step_index": step_index,
            "total_steps": total_steps,
        }
        if percent is not None:
            event["percent"] = percent
        if steps is not None:
            event["steps"] = steps
        self.send([event])

    def output(self, kind: str, data: Any, title: str | None = None) -> None:
        """Partial or final output: kind is json, text, table or chart."""
        event: dict[str, Any] = {"type": "output", "kind": kind, "data": data}
        if title:
            event["title"] = title
        self.send([event])

    def complete(self, result: Any = None) -> None:
        self.send([{"type": "completed", "result": result}])

    def fail(self, error: str) -> None:
        self.send([{"type": "failed", "error": error}])
