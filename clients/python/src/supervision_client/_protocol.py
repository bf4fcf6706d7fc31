"""What the sync and async clients share: errors, the answers' shapes, the event bodies, and
the run's control bookkeeping (no I/O here, so both clients apply controls the same way)."""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

FINAL_STATUSES = ("completed", "failed", "terminated", "lost")
STOPPED_BY_OTHERS = ("terminated", "lost")
UNDECIDED_ENDS = ("rejected", "expired", "cancelled", "failed", "withdrawn")
LONG_POLL_MAX_S = 30
BUSY_RETRIES = 3  # answers "too busy, nothing done" (429, 503) retried this often…
BUSY_WAIT_MAX_S = 30.0  # …waiting what Retry-After says, at most this long each time


class SupervisionError(Exception):
    """The server refused a request; `status`, `detail` and `field` say why."""

    def __init__(
        self,
        status: int,
        detail: str,
        field: str | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status}: {detail}" + (f" ({field})" if field else ""))
        self.status = status
        self.detail = detail
        self.field = field
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth asking again later: the server failed or was too busy (nothing was done)."""
        return self.status >= 500 or self.status == 429


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
    """The supervisor terminated the run (or it ended without us): stop at once."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason or "terminated by supervisor")
        self.reason = reason


@dataclass(frozen=True)
class Decision:
    """The answer to `act`: blocked, proposed, queued or approved_to_run, and its ids."""

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
    expected = "sha256=" + hmac.new(webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature_header)


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def raise_for(response: httpx.Response) -> None:
    """A refusal as `SupervisionError` with the server's detail and field."""
    if response.is_success:
        return
    body = json_or_none(response)
    if not isinstance(body, dict):
        body = {"detail": response.text}
    detail = body.get("detail") or body.get("reason") or response.reason_phrase
    raise SupervisionError(
        response.status_code, str(detail), body.get("field"), retry_after=retry_after(response)
    )


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (its Retry-After, in seconds), if it said."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


POLL_FAILURES_TOLERATED = 3  # a wait for a decision outlives this many failed looks in a row


def check_wait(timeout: float, poll: float) -> None:
    """A wait that can end and does not hammer the dashboard: refused at once otherwise."""
    if not (math.isfinite(timeout) and timeout >= 0):
        raise ValueError(f"timeout must be a number of seconds, 0 or more (not {timeout!r})")
    if not (math.isfinite(poll) and poll > 0):
        raise ValueError(f"poll must be a number of seconds above 0 (not {poll!r})")


def passing(error: Exception, failures: int) -> bool:
    """Whether a failed look at a pending decision is a blip to wait out (the network, a
    server error) rather than an answer (a refusal) or an outage that lasts."""
    if isinstance(error, SupervisionError) and not error.transient:
        return False
    return failures <= POLL_FAILURES_TOLERATED


def busy_wait(response: httpx.Response, attempt: int) -> float | None:
    """How long to wait before sending the same request again, or None to take the answer.

    The API answers 429 (this agent's rate limit) and 503 with Retry-After (the database was
    busy) before writing anything, so the same request may simply be sent again."""
    if response.status_code not in (429, 503) or attempt >= BUSY_RETRIES:
        return None
    wait = retry_after(response)
    if wait is None:
        return None
    return min(wait, BUSY_WAIT_MAX_S)


def action_body(
    action: str,
    parameters: dict[str, Any] | None,
    reason: str,
    priority: int,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """The body of `POST /api/v1/actions`; one idempotency key per call, so a retry acts once."""
    return {
        "action": action,
        "parameters": parameters or {},
        "reason": reason,
        "priority": priority,
        "idempotency_key": idempotency_key or uuid.uuid4().hex,
    }


def decision_from(response: httpx.Response) -> Decision:
    """The answer to an action, or `Blocked` when governance refused it."""
    if response.status_code == 403 and "decision" in response.text:
        raise Blocked(403, response.json().get("reason", "blocked"))
    raise_for(response)
    data = response.json()
    return Decision(**{k: data.get(k) for k in Decision.__dataclass_fields__})


def decision_path(decision: Decision) -> tuple[str, str]:
    """Where to ask how a proposal or queued work stands, and what to call it."""
    if decision.proposal_id:
        return f"/api/v1/proposals/{decision.proposal_id}", "proposal"
    if decision.queue_entry_id:
        return f"/api/v1/queue/{decision.queue_entry_id}", "queue entry"
    raise NotApproved("action", decision.decision, decision.reason)


def runnable_execution(status: dict[str, Any], kind: str) -> int | None:
    """The run to start once approved or dispatched; `NotApproved` when it never will be."""
    if status.get("execution_id") and status["status"] in ("approved", "executing"):
        return int(status["execution_id"])
    if status["status"] in UNDECIDED_ENDS:
        raise NotApproved(kind, status["status"], status.get("reason"))
    return None


def log_event(message: str, level: str, data: dict[str, Any] | None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "log", "level": level, "message": message}
    if data is not None:
        event["data"] = data
    return event


def progress_event(
    step: str,
    step_index: int,
    total_steps: int,
    percent: float | None,
    steps: list[str] | None,
) -> dict[str, Any]:
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
    return event


def output_event(kind: str, data: Any, title: str | None) -> dict[str, Any]:
    """Partial or final output: kind is json, text, table or chart."""
    event: dict[str, Any] = {"type": "output", "kind": kind, "data": data}
    if title:
        event["title"] = title
    return event


def control_params(wait: float, ack: list[int]) -> dict[str, Any]:
    params: dict[str, Any] = {"wait": min(wait, LONG_POLL_MAX_S)}
    if ack:
        params["ack"] = ",".join(str(i) for i in ack)
    return params


@dataclass
class RunBook:
    """A run's control bookkeeping. Every answer carries the run's state and the controls not
    yet acknowledged; each control is applied once (by id) and acknowledged with the next
    request, so a lost answer loses no control. A `correction` is kept in `corrections` (and
    passed to `on_correction`); `terminate`, or a run that ended without us (lost), is a
    `Terminated` for the caller to raise once it has acknowledged it."""

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
        return self.status in FINAL_STATUSES

    @property
    def events_path(self) -> str:
        return f"/api/v1/executions/{self.execution_id}/events"

    @property
    def control_path(self) -> str:
        return f"/api/v1/executions/{self.execution_id}/control"

    def _take_acknowledgements(self) -> list[int]:
        ack, self._unacknowledged = self._unacknowledged, []
        return ack

    def _say_again(self, ack: list[int]) -> None:
        """Acknowledgements the server did not get: sent with the next request."""
        self._unacknowledged[:0] = ack

    def _already_done(self, events: list[dict[str, Any]]) -> bool:
        """Our own final report was stored before (its answer was lost): nothing to resend."""
        final = events[-1]["type"] if events else None
        return final in ("completed", "failed") and self.status == final

    def _absorb(self, state: dict[str, Any]) -> Terminated | None:
        """Apply the run's state and its new controls; the stop to raise, if any."""
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
        if stop is not None or self.status in STOPPED_BY_OTHERS:
            return Terminated((stop or {}).get("text") or state.get("reason"))
        return None
