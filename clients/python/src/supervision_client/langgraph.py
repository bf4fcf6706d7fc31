"""LangGraph under supervision: a node asks the dashboard before it acts, waits for a human's
decision as a LangGraph interrupt, and runs with the approved (possibly edited) parameters.

Needs the `langgraph` extra (`pip install "supervision-client[langgraph]"`) and a graph
compiled with a checkpointer (interrupts are stored there)::

    from langgraph.checkpoint.memory import InMemorySaver
    from supervision_client import SupervisionClient
    from supervision_client.langgraph import run_until_decided, supervised_node

    client = SupervisionClient("http://localhost:3000", api_key="sva_...")

    @supervised_node(client, "refund_order", parameters=lambda state: {"order": state["order"]})
    def refund(state, run, parameters):
        run.log(f"refunding {parameters['order']}")
        return {"refunded": parameters["order"]}

    graph = builder.compile(checkpointer=InMemorySaver())
    final = run_until_decided(graph, {"order": "A-1"}, {"configurable": {"thread_id": "t1"}},
                              client)

What each answer does inside the node:

- `approved_to_run`: the node runs at once, reporting to its run.
- `proposed` / `queued`: the node raises `interrupt({"supervision": ..., "proposal_id": ...})`;
  the graph stops there. `resume_decided` (or `run_until_decided`) waits for the dashboard and
  resumes with `Command(resume={"decision": "approved", "parameters": ...})` or
  `{"decision": "rejected", "status": ..., "reason": ...}`. The node starts again from the
  top (LangGraph re-executes it); its `act` repeats with the same idempotency key, so the
  dashboard answers with the first decision and no second proposal is made.
- decided: the node asks the dashboard how its ask was decided (a resume value alone never
  lets work run, and may be another ask's) and, approved, runs with the parameters the
  supervisor approved.
- rejected, expired or cancelled: `NotApproved` (with `status` and `reason`) is raised in the
  node and leaves `invoke` — unless the node was given `on_rejection`, whose update is used.
- STUDENT agents: `Blocked` leaves `invoke`; the guarded work never starts.
- a retried node (a `RetryPolicy`, or `invoke(None, config)` after an error or a crash) is the
  same task, so it gets the same approval back; once that approval's run has ended (failed,
  completed, terminated, lost) or started and never reported its end (cut short), the work is
  not run again: `AlreadyRan` (a `NotApproved`, status = the run's) leaves `invoke`.
  `ask_again_after_failure=True` makes a retry after a failed or lost run ask again instead: a
  new proposal for an INTERN, a new run either way (a cut-short run once the dashboard gives it
  up as lost). The ask reports the start before it hands the run over, so a crash in the work
  is never followed by a second run of it.
- `interrupt()` inside the approved work would have LangGraph run that work again on resume:
  `supervised_node` fails the run and raises `RuntimeError` instead.

Several asks in one node (a loop over orders) are told apart by their order: the n-th ask for an
action gets the n-th decision, on every execution of the node, as LangGraph matches the n-th
`interrupt()` with the n-th resume value. Ask in the same order each time, or name each ask
with `key=`.

While it runs, a supervisor's pause holds the node's next report, `Terminated` from a
terminate leaves `invoke`, and each correction is added to the node's update as a
`HumanMessage(name="supervisor")` under `messages` (a key with a reducer, e.g. `add_messages`),
so later nodes — an LLM, typically — read it. Any error talking to the dashboard leaves
`invoke` too: the guarded work does not run without an answer.
"""

from __future__ import annotations

from supervision_client._extras import missing_extra

try:
    import langgraph  # noqa: F401
except ModuleNotFoundError as missing:  # say what to install, not a bare import error
    raise missing_extra(missing, "langgraph", "The LangGraph adapter") from missing

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
from langchain_core.messages import HumanMessage
from langgraph._internal._constants import CONFIG_KEY_SCRATCHPAD
from langgraph.config import get_config
from langgraph.errors import GraphBubbleUp, GraphInterrupt, ParentCommand
from langgraph.types import Command, Interrupt, interrupt

from supervision_client._async import AsyncRun, AsyncSupervisionClient
from supervision_client._protocol import (
    FINAL_STATUSES,
    Decision,
    NotApproved,
    SupervisionError,
    Terminated,
)
from supervision_client._sync import Run, SupervisionClient

__all__ = [
    "AlreadyRan",
    "aask_supervisor",
    "aresume_decided",
    "arun_until_decided",
    "ask_supervisor",
    "decision_key",
    "pending_decisions",
    "resume_decided",
    "run_until_decided",
    "supervised_node",
]

State = TypeVar("State")
INTERRUPT_MARK = "supervision"
SUPERVISOR_NAME = "supervisor"
WAITING = ("proposed", "queued")
ASK_AGAIN_AFTER = ("failed", "lost")  # with ask_again_after_failure; never after a terminate
UNDECIDED = "pending"  # a NotApproved status: resumed before the dashboard decided


class AlreadyRan(NotApproved):
    """The approval an ask replays was used already: its run has ended (`status` failed,
    completed, terminated or lost) or was cut short (`status` running or paused: it started
    and never reported its end); `execution_id` says which run.

    A retried node (LangGraph's `RetryPolicy`, or `invoke(None, config)` after an error or a
    crash) is the same task, so its ask has the same key and the dashboard replays the same
    approval. Running the work again under it would do the approved action twice with one
    approval and report nothing, so the ask raises this instead (`on_rejection` is not given
    it).
    """

    def __init__(self, action: str, run: Mapping[str, Any]) -> None:
        self.execution_id = int(run["id"])
        status = str(run["status"])
        error = f" ({run['error']})" if run.get("error") else ""
        what = (
            f"already ran under this approval{error}"
            if status in FINAL_STATUSES
            else f"started under this approval and never reported its end (the run is {status})"
        )
        if _may_ask_again(run):
            instead = " (ask_again_after_failure=True asks for a new approval instead)"
        elif status in FINAL_STATUSES:
            instead = ""
        else:
            instead = (
                " (once the dashboard gives the run up as lost, ask_again_after_failure=True "
                "asks for a new approval)"
            )
        super().__init__(
            f"run {self.execution_id}", status, f"{action} {what}; it is not run again{instead}"
        )


def decision_key(action: str, key: str | None = None, *, index: int = 0) -> str:
    """The idempotency key of an ask from the current LangGraph task.

    Built from the thread and the task's checkpoint namespace (which holds the task id, itself
    derived from the checkpoint and step), so the re-execution that follows a resume asks with
    the same key and the dashboard replays its first decision. `index` is the number of asks
    for the same `action` and `key` made before it in the same execution of the node, so a
    second ask (in a loop, say) is a new ask, not the first one's approval replayed. Parameters
    are left out on purpose: a node that recomputes them (an LLM call before the ask) still gets
    its proposal, and runs with what the supervisor approved.
    """
    try:
        configurable = get_config().get("configurable", {})
    except RuntimeError as outside:
        raise RuntimeError("ask the supervisor from inside a LangGraph node") from outside
    where = [
        str(configurable.get("thread_id", "")),
        str(configurable.get("checkpoint_ns", "")),
        action,
        key or "",
        index,
    ]
    return _hashed(where)


def _hashed(parts: list[Any]) -> str:
    return "langgraph-" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class _AskCounts:
    """How many asks, by (action, key), each execution of a task has made so far.

    LangGraph gives each execution of a task (each retry too) a scratchpad of its own, so the
    count is kept per scratchpad and restarts with every execution, as `interrupt()`'s does.
    It is kept here, by the scratchpad's identity, rather than in a context variable: asks
    run side by side in one node (`asyncio.gather`) each get a copy of the context and would
    each count from zero — the same key for two asks. Scratchpads can be neither weakly
    referenced nor hashed, so the entry holds the scratchpad (its id cannot be reused while
    it is here) and the oldest entries are dropped past `KEPT` tasks."""

    KEPT = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()  # sync nodes run in threads, side by side
        self._counts: OrderedDict[int, tuple[object, Counter[tuple[str, str]]]] = OrderedDict()

    def take(self, scratchpad: object, action: str, key: str) -> int:
        """The index of this ask: how many asks like it this execution made before."""
        with self._lock:
            entry = self._counts.get(id(scratchpad))
            if entry is None or entry[0] is not scratchpad:
                entry = (scratchpad, Counter())
                self._counts[id(scratchpad)] = entry
            self._counts.move_to_end(id(scratchpad))
            while len(self._counts) > self.KEPT:
                self._counts.popitem(last=False)
            made = entry[1]
            index = made[(action, key)]
            made[(action, key)] += 1
            return index


# LangGraph's own interrupt counter is not used: taking numbers from it shifts the interrupts.
_ask_counts = _AskCounts()


def _next_key(action: str, key: str | None) -> str:
    """The key of this ask: the n-th ask for `action` (and `key`) in this execution of the
    node gets index n, and a re-execution that asks in the same order gets the same keys."""
    try:
        scratchpad = get_config()["configurable"][CONFIG_KEY_SCRATCHPAD]
    except (RuntimeError, KeyError) as outside:
        raise RuntimeError("ask the supervisor from inside a LangGraph node") from outside
    return decision_key(action, key, index=_ask_counts.take(scratchpad, action, key or ""))


def _handed_back(details: Mapping[str, Any]) -> bool:
    """The run an ask found may be handed to the node: it has not started. A run that
    started (the agent reported on it) and has not ended was cut short — a crash, a
    cancellation, a failure report that never arrived — and its work may have been done."""
    return details["status"] not in FINAL_STATUSES and details.get("started_at") is None


def _key_after(ended: Mapping[str, Any], action: str, idempotency_key: str, ask_again: bool) -> str:
    """The key of a new ask after a run that ended (or was cut short), or `AlreadyRan` when
    not to ask again. Derived from that run, so the re-execution after this new ask's
    interrupt finds the same chain of asks and replays the new decision."""
    if not (ask_again and _may_ask_again(ended)):
        raise AlreadyRan(action, ended)
    return _hashed([idempotency_key, "asked again after run", int(ended["id"])])


def _may_ask_again(run: Mapping[str, Any]) -> bool:
    """A run cut short (started, never ended) is not asked again: its work may be done with
    only the report lost. Once the dashboard gives it up as lost (RUN_LOST_AFTER_S, shown to
    the supervisor) it may be."""
    return run["status"] in ASK_AGAIN_AFTER


def _proposal_interrupt(decision: Decision, action: str, parameters: Mapping[str, Any]) -> dict:
    """What the graph's caller sees while the node waits (JSON, so any checkpointer stores it)."""
    return {
        INTERRUPT_MARK: decision.decision,
        "action": action,
        "parameters": dict(parameters),
        "reason": decision.reason,
        "request_id": decision.request_id,
        "proposal_id": decision.proposal_id,
        "queue_entry_id": decision.queue_entry_id,
    }


def _decision_from_interrupt(value: Mapping[str, Any]) -> Decision:
    return Decision(
        decision=value[INTERRUPT_MARK],
        level="",
        reason=value.get("reason") or "",
        request_id=value.get("request_id") or 0,
        proposal_id=value.get("proposal_id"),
        queue_entry_id=value.get("queue_entry_id"),
    )


def _kind(decision: Decision) -> str:
    return "proposal" if decision.proposal_id else "queue entry"


def _refusal_in(answer: Any, decision: Decision) -> NotApproved | None:
    """The rejection a resume value carries; None when it says approved (still to confirm)."""
    if isinstance(answer, Mapping) and answer.get("decision") == "approved":
        return None
    if isinstance(answer, Mapping) and answer.get("decision") == "rejected":
        return NotApproved(
            _kind(decision), answer.get("status") or "rejected", answer.get("reason")
        )
    return NotApproved(_kind(decision), "unknown", f"resumed with {answer!r}, not a decision")


def _unconfirmed(decision: Decision) -> NotApproved:
    return NotApproved(
        _kind(decision), UNDECIDED, "resumed as approved, but the dashboard has not approved it"
    )


def ask_supervisor(
    client: SupervisionClient,
    action: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    reason: str = "",
    priority: int = 0,
    key: str | None = None,
    ask_again_after_failure: bool = False,
) -> Run:
    """Ask before acting, from inside a node; the `Run` to report to once it may run.

    Interrupts the graph while a proposal or queued entry waits (see the module docstring).
    Raises `Blocked` (STUDENT), `NotApproved` (rejected, expired, cancelled) or the HTTP error
    that kept the dashboard from answering: in each case the guarded work must not run.
    Each ask in one execution of the node is its own (the n-th gets the n-th decision), so ask
    in the same order every time, as with `interrupt()`; `key` names an ask instead.
    A retried node gets `AlreadyRan` when the approval's run has ended — or, with
    `ask_again_after_failure`, asks again when that run failed or was lost.
    """
    idempotency_key = _next_key(action, key)
    while True:
        run = _decided_run(client, action, parameters, reason, priority, idempotency_key)
        details = client.execution(run.execution_id)
        if _handed_back(details):
            run.details = details
            _start(run, action)
            return run
        idempotency_key = _key_after(details, action, idempotency_key, ask_again_after_failure)


def _decided_run(
    client: SupervisionClient,
    action: str,
    parameters: Mapping[str, Any] | None,
    reason: str,
    priority: int,
    idempotency_key: str,
) -> Run:
    """The run this ask may start: at once, or after the interrupt that waits for a human."""
    decision = client.act(
        action,
        dict(parameters or {}),
        reason=reason,
        priority=priority,
        idempotency_key=idempotency_key,
    )
    if decision.execution_id:
        return client.run(decision.execution_id)
    answer = _wait_for_a_human(decision, action, parameters)
    try:
        return client.wait_for_decision(decision, timeout=0)  # the dashboard's word on it
    except TimeoutError as pending:
        refusal = _not_decided(answer, decision)
        if refusal.status != UNDECIDED:  # the caller said no: nobody is to approve it now
            with contextlib.suppress(httpx.HTTPError, SupervisionError):
                client.withdraw(decision, _caller_said_no(refusal))
        raise refusal from pending


def _wait_for_a_human(decision: Decision, action: str, parameters: Mapping[str, Any] | None) -> Any:
    """Interrupt the graph until a human decided; the resume value once resumed.

    The value is not taken at its word: the caller asks the dashboard how *this* ask was
    decided. LangGraph hands the n-th resume value to the n-th `interrupt()` call, and asks
    run side by side (`asyncio.gather`) reach theirs in whatever order the network answers,
    so a value may well be another ask's decision."""
    if decision.decision not in WAITING:
        raise NotApproved("action", decision.decision, decision.reason)
    return interrupt(_proposal_interrupt(decision, action, parameters or {}))


def _not_decided(answer: Any, decision: Decision) -> NotApproved:
    """Resumed, but the dashboard has not decided this ask: nothing runs. A resume value that
    says rejected is honoured (the caller chose not to wait) unless it names another ask; one
    that says approved never is."""
    if isinstance(answer, Mapping) and _names_another_ask(answer, decision):
        return NotApproved(
            _kind(decision),
            UNDECIDED,
            "resumed with another ask's decision while this one waits: asks that wait for a "
            "human must be made one after another, not side by side",
        )
    return _refusal_in(answer, decision) or _unconfirmed(decision)


def _caller_said_no(refusal: NotApproved) -> str:
    return f"the graph was resumed with {refusal.status}: {refusal.reason or 'no reason'}"


def _names_another_ask(answer: Mapping[str, Any], decision: Decision) -> bool:
    named = answer.get("proposal_id"), answer.get("queue_entry_id")
    return any(named) and named != (decision.proposal_id, decision.queue_entry_id)


async def aask_supervisor(
    client: AsyncSupervisionClient,
    action: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    reason: str = "",
    priority: int = 0,
    key: str | None = None,
    ask_again_after_failure: bool = False,
) -> AsyncRun:
    """`ask_supervisor` for async nodes (graphs run with `ainvoke`)."""
    idempotency_key = _next_key(action, key)
    while True:
        run = await _adecided_run(client, action, parameters, reason, priority, idempotency_key)
        details = await client.execution(run.execution_id)
        if _handed_back(details):
            run.details = details
            await _astart(run, action)
            return run
        idempotency_key = _key_after(details, action, idempotency_key, ask_again_after_failure)


async def _adecided_run(
    client: AsyncSupervisionClient,
    action: str,
    parameters: Mapping[str, Any] | None,
    reason: str,
    priority: int,
    idempotency_key: str,
) -> AsyncRun:
    decision = await client.act(
        action,
        dict(parameters or {}),
        reason=reason,
        priority=priority,
        idempotency_key=idempotency_key,
    )
    if decision.execution_id:
        return client.run(decision.execution_id)
    answer = _wait_for_a_human(decision, action, parameters)
    try:
        return await client.wait_for_decision(decision, timeout=0)
    except TimeoutError as pending:
        refusal = _not_decided(answer, decision)
        if refusal.status != UNDECIDED:
            with contextlib.suppress(httpx.HTTPError, SupervisionError):
                await client.withdraw(decision, _caller_said_no(refusal))
        raise refusal from pending


def _with_corrections(update: Any, corrections: list[str], messages_key: str | None) -> Any:
    """The node's update with each correction added as a message from the supervisor.

    A dict (or None) gets them under `messages_key`; a list of (key, value) writes gets one
    more write; any other update (a state object) is returned as it is — read
    `run.corrections` in such a node."""
    if not corrections or messages_key is None:
        return update
    messages = [HumanMessage(content=text, name=SUPERVISOR_NAME) for text in corrections]
    if isinstance(update, Command):
        merged = _with_corrections(update.update, corrections, messages_key)
        return dataclasses.replace(update, update=merged)
    if update is None or isinstance(update, Mapping):
        merged = dict(update or {})
        merged[messages_key] = [*merged.get(messages_key, []), *messages]
        return merged
    if isinstance(update, list | tuple) and all(
        isinstance(write, tuple) and len(write) == 2 for write in update
    ):
        return [*update, (messages_key, messages)]
    return update


INTERRUPT_IN_WORK = (
    "interrupt() was called inside the approved work: LangGraph runs the node again from the "
    "top when it is resumed, which would do the approved work twice; ask the human before "
    "the supervised work (in an earlier node) instead"
)


def _start(run: Run, action: str) -> None:
    """Report the start before the work runs. A pause sent before now holds the work here
    and a terminate stops it; once the dashboard has heard the start, the run counts as
    started, so a node that runs again after a crash never gets it back (`AlreadyRan`)."""
    run.log(f"{action}: the approved work starts")
    while run.status == "ready":  # heard while paused, which does not start a run
        run.log(f"{action}: resumed; the approved work starts")


async def _astart(run: AsyncRun, action: str) -> None:
    await run.log(f"{action}: the approved work starts")
    while run.status == "ready":
        await run.log(f"{action}: resumed; the approved work starts")


def _to_parent(jump: ParentCommand, corrections: list[str], messages_key: str | None):
    """The node's `Command(graph=PARENT)`, with the corrections added to its update."""
    return ParentCommand(_with_corrections(jump.args[0], corrections, messages_key))


def _failure(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _value_or_call(value: Any, state: Any) -> Any:
    return value(state) if callable(value) else value


def supervised_node(
    client: SupervisionClient | AsyncSupervisionClient,
    action: str,
    *,
    parameters: Callable[[State], Mapping[str, Any]] | Mapping[str, Any] | None = None,
    reason: Callable[[State], str] | str = "",
    priority: int = 0,
    messages_key: str | None = "messages",
    on_rejection: Callable[[State, NotApproved], Any] | None = None,
    ask_again_after_failure: bool = False,
) -> Callable[[Callable[..., Any]], Callable[[State], Any]]:
    """Guard a node: it runs only once the dashboard lets `action` run.

    The wrapped function is called as `fn(state, run, parameters)` with the approved
    parameters; it reports through `run` (log, progress, output, or `complete(result)` itself).
    When it returns, an unfinished run is completed; when it raises, the run is failed and
    the error leaves `invoke`. Corrections received are added to its update under
    `messages_key` (None: not added; read `run.corrections` instead). A rejection raises
    `NotApproved` unless `on_rejection(state, refusal)` gives the node's update instead.
    A retry of the node (`RetryPolicy`, or `invoke(None, config)` after an error) does not run
    `fn` again under the approval it already ran with: `AlreadyRan` leaves `invoke` — unless
    `ask_again_after_failure`, which asks the dashboard again (a new proposal for an INTERN)
    when that run failed.
    An `async def` node needs an `AsyncSupervisionClient`, a plain one a `SupervisionClient`.
    """

    def wrap(fn: Callable[..., Any]) -> Callable[[State], Any]:
        if inspect.iscoroutinefunction(fn):
            if not isinstance(client, AsyncSupervisionClient):
                raise TypeError("an async node needs an AsyncSupervisionClient")
            return _async_node(fn, client)
        if not isinstance(client, SupervisionClient):
            raise TypeError("a sync node needs a SupervisionClient")
        return _sync_node(fn, client)

    def _sync_node(fn: Callable[..., Any], sync_client: SupervisionClient) -> Callable:
        @functools.wraps(fn)
        def node(state: State) -> Any:
            try:
                run = ask_supervisor(
                    sync_client,
                    action,
                    _value_or_call(parameters, state),
                    reason=_value_or_call(reason, state),
                    priority=priority,
                    ask_again_after_failure=ask_again_after_failure,
                )
            except AlreadyRan:
                raise  # not a decision: the approved work ran already
            except NotApproved as refusal:
                if on_rejection is None or refusal.status == UNDECIDED:
                    raise  # undecided is not a rejection: the ask still waits
                return on_rejection(state, refusal)
            try:
                update = fn(state, run, run.parameters())
            except GraphInterrupt as own:
                if not run.ended:
                    with contextlib.suppress(httpx.HTTPError, SupervisionError, Terminated):
                        run.fail(INTERRUPT_IN_WORK)
                raise RuntimeError(INTERRUPT_IN_WORK) from own
            except ParentCommand as jump:  # the node's answer, sent to the parent graph
                if not run.ended:
                    run.complete()
                raise _to_parent(jump, run.corrections, messages_key) from None
            except (GraphBubbleUp, Terminated):
                raise
            except Exception as error:
                if not run.ended:
                    with contextlib.suppress(httpx.HTTPError, SupervisionError):
                        run.fail(_failure(error))
                raise
            if not run.ended:
                run.complete()
            return _with_corrections(update, run.corrections, messages_key)

        return node

    def _async_node(
        fn: Callable[..., Awaitable[Any]], async_client: AsyncSupervisionClient
    ) -> Callable:
        @functools.wraps(fn)
        async def node(state: State) -> Any:
            try:
                run = await aask_supervisor(
                    async_client,
                    action,
                    _value_or_call(parameters, state),
                    reason=_value_or_call(reason, state),
                    priority=priority,
                    ask_again_after_failure=ask_again_after_failure,
                )
            except AlreadyRan:
                raise  # not a decision: the approved work ran already
            except NotApproved as refusal:
                if on_rejection is None or refusal.status == UNDECIDED:
                    raise  # undecided is not a rejection: the ask still waits
                return on_rejection(state, refusal)
            try:
                update = await fn(state, run, await run.parameters())
            except GraphInterrupt as own:
                if not run.ended:
                    with contextlib.suppress(httpx.HTTPError, SupervisionError, Terminated):
                        await run.fail(INTERRUPT_IN_WORK)
                raise RuntimeError(INTERRUPT_IN_WORK) from own
            except ParentCommand as jump:
                if not run.ended:
                    await run.complete()
                raise _to_parent(jump, run.corrections, messages_key) from None
            except (GraphBubbleUp, Terminated):
                raise
            except Exception as error:
                if not run.ended:
                    with contextlib.suppress(httpx.HTTPError, SupervisionError):
                        await run.fail(_failure(error))
                raise
            if not run.ended:
                await run.complete()
            return _with_corrections(update, run.corrections, messages_key)

        return node

    return wrap


def pending_decisions(snapshot: Any) -> list[Interrupt]:
    """The interrupts of a `StateSnapshot` that wait for the dashboard (others are left)."""
    return [
        waiting
        for waiting in snapshot.interrupts
        if isinstance(waiting.value, Mapping) and waiting.value.get(INTERRUPT_MARK) in WAITING
    ]


def _approved(run: Run | AsyncRun, parameters: dict[str, Any], asked: Decision) -> dict:
    return {
        "decision": "approved",
        "parameters": parameters,
        "execution_id": run.execution_id,
        **_ids(asked),
    }


def _rejected(refusal: NotApproved, asked: Decision) -> dict[str, Any]:
    return {
        "decision": "rejected",
        "status": refusal.status,
        "reason": refusal.reason,
        **_ids(asked),
    }


def _ids(asked: Decision) -> dict[str, int | None]:
    """Which ask a resume value answers (for whoever reads the checkpoint; the node itself
    asks the dashboard)."""
    return {"proposal_id": asked.proposal_id, "queue_entry_id": asked.queue_entry_id}


def _nothing_waits(config: Mapping[str, Any]) -> ValueError:
    thread = config.get("configurable", {}).get("thread_id")
    return ValueError(f"nothing on thread {thread!r} waits for a supervision decision")


def resume_decided(
    graph: Any,
    config: Mapping[str, Any],
    client: SupervisionClient,
    *,
    timeout: float = 3600,
    poll: float = 2.0,
) -> Any:
    """Wait for the dashboard to decide what the thread waits for, then resume the graph.

    Each supervision interrupt is answered by id: `{"decision": "approved", "parameters":
    <approved, possibly edited>, "execution_id": ...}` or `{"decision": "rejected", "status":
    ..., "reason": ...}`. Returns what `graph.invoke` returns. An error from the dashboard
    (or `TimeoutError`) leaves the graph where it is.
    """
    waiting = pending_decisions(graph.get_state(config))
    if not waiting:
        raise _nothing_waits(config)
    answers: dict[str, Any] = {}
    for pending in waiting:
        decision = _decision_from_interrupt(pending.value)
        try:
            run = client.wait_for_decision(decision, timeout=timeout, poll=poll)
            answers[pending.id] = _approved(run, run.parameters(), decision)
        except NotApproved as refusal:
            answers[pending.id] = _rejected(refusal, decision)
    return graph.invoke(Command(resume=answers), config)


async def aresume_decided(
    graph: Any,
    config: Mapping[str, Any],
    client: AsyncSupervisionClient,
    *,
    timeout: float = 3600,
    poll: float = 2.0,
) -> Any:
    """`resume_decided` for asyncio: waits without blocking the loop, resumes with `ainvoke`."""
    waiting = pending_decisions(await graph.aget_state(config))
    if not waiting:
        raise _nothing_waits(config)
    answers: dict[str, Any] = {}
    for pending in waiting:
        decision = _decision_from_interrupt(pending.value)
        try:
            run = await client.wait_for_decision(decision, timeout=timeout, poll=poll)
            answers[pending.id] = _approved(run, await run.parameters(), decision)
        except NotApproved as refusal:
            answers[pending.id] = _rejected(refusal, decision)
    return await graph.ainvoke(Command(resume=answers), config)


def run_until_decided(
    graph: Any,
    graph_input: Any,
    config: Mapping[str, Any],
    client: SupervisionClient,
    *,
    timeout: float = 3600,
    poll: float = 2.0,
) -> Any:
    """Invoke the graph and resume it after each supervision decision until it is done (or
    stops at an interrupt of another kind); returns the last `invoke`'s result."""
    result = graph.invoke(graph_input, config)
    while pending_decisions(graph.get_state(config)):
        result = resume_decided(graph, config, client, timeout=timeout, poll=poll)
    return result


async def arun_until_decided(
    graph: Any,
    graph_input: Any,
    config: Mapping[str, Any],
    client: AsyncSupervisionClient,
    *,
    timeout: float = 3600,
    poll: float = 2.0,
) -> Any:
    """`run_until_decided` for asyncio (`ainvoke`)."""
    result = await graph.ainvoke(graph_input, config)
    while pending_decisions(await graph.aget_state(config)):
        result = await aresume_decided(graph, config, client, timeout=timeout, poll=poll)
    return result
