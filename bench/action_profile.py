"""Where one agent action's server time goes, part by part (issue 19, part 4).

Runs the code `POST /api/v1/actions` runs, without HTTP, in one process on a fresh SQLite
database (or BENCH_DATABASE_URL): the agent's sign-in (`caller_of`, as the route's
dependency calls it), then `route_action` in a `session_scope`, then its commit. Every part
is timed around the very function the route calls, over ACTIONS actions in a row after a
warm-up; then as many one-line reports (`POST …/events`) to the last run, timed the same
way; then as many actions of an INTERN agent whose supervisor is online (each a proposal
placed in its escalation chain, #20).

Prints JSON lines: `action_part_ms` per part {part, ms} and `action_total_ms`, then
`event_part_ms` and `event_total_ms`, then `proposal_part_ms` (with `escalation`:
the chain's first step, inside `route_action`) and `proposal_total_ms`. Parts overlap
nothing: `route_action` includes the BEGIN and excludes the commit; `commit` includes the
audit chain, also shown alone (`audit_chain`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import asyncio  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import emit  # noqa: E402
from bench.throughput import fresh_database, make_agents  # noqa: E402

ACTIONS = int(os.environ.get("BENCH_PROFILE_ACTIONS", "2000"))
WARM_UP = 200

_spent: dict[str, float] = defaultdict(float)


def _timed(part: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _spent[part] += time.perf_counter() - started

    return wrapper


def _instrument() -> None:
    """Time the audit chain wherever the commit calls it from."""
    from services import audit

    audit._append_to_chain = _timed("audit_chain", audit._append_to_chain)  # type: ignore[attr-defined]


def _timed_request(
    loop: asyncio.AbstractEventLoop, key: str, part: str, work: Callable[[Any, Any], object]
) -> None:
    """One request as the route runs it: sign-in, then `work(session, agent)` in a
    `session_scope`, then its commit; each part's time added up."""
    from services.db import session_scope
    from supervision_app.api.auth import caller_of

    started = time.perf_counter()
    agent = loop.run_until_complete(caller_of(key)).agent
    signed_in = time.perf_counter()
    with session_scope() as session:
        work(session, agent)
        worked = time.perf_counter()
    committed = time.perf_counter()
    _spent["sign_in"] += signed_in - started
    _spent[part] += worked - signed_in
    _spent["commit"] += committed - worked
    _spent["total"] += committed - started


def _one_action(loop: asyncio.AbstractEventLoop, key: str, index: int) -> None:
    from services import governance
    from services.clock import utcnow
    from services.governance import ActionInput
    from services.policy import governance_policy

    _timed_request(
        loop,
        key,
        "route_action",
        lambda session, agent: governance.route_action(
            session=session,
            agent=agent,
            request=ActionInput(action="profile", parameters={"n": index}),
            now=utcnow(),
            policy=governance_policy(),
        ),
    )


def _one_event(loop: asyncio.AbstractEventLoop, key: str, execution_id: int, index: int) -> None:
    from services import execution_events
    from services.clock import utcnow
    from services.execution_events import LogEvent
    from services.policy import monitor_policy

    _timed_request(
        loop,
        key,
        "record_events",
        lambda session, agent: execution_events.record_events(
            session=session,
            agent=agent,
            execution_id=execution_id,
            events=[LogEvent(type="log", message=f"line {index}")],
            ack=[],
            now=utcnow(),
            monitor=monitor_policy(),
        ),
    )


def _report(kind: str, count: int) -> None:
    for part, seconds in sorted(_spent.items()):
        if part != "total":
            emit(metric=f"{kind}_part_ms", part=part, ms=round(1000 * seconds / count, 3))
    emit(metric=f"{kind}_total_ms", ms=round(1000 * _spent["total"] / count, 3), n=count)
    _spent.clear()


def main() -> None:
    os.environ.setdefault("AGENT_REQUESTS_PER_MINUTE", "100000000")
    fresh_database()
    key = make_agents(1)[0]
    _instrument()
    loop = asyncio.new_event_loop()
    for index in range(WARM_UP):
        _one_action(loop, key, index)
    _spent.clear()
    for index in range(ACTIONS):
        _one_action(loop, key, index)
    _report("action", ACTIONS)

    from sqlmodel import select

    from models import Execution
    from services.db import read_scope

    with read_scope() as session:
        execution_id = session.exec(select(Execution.id).order_by(Execution.id.desc())).first()
    for index in range(WARM_UP):
        _one_event(loop, key, execution_id, index)
    _spent.clear()
    for index in range(ACTIONS):
        _one_event(loop, key, execution_id, index)
    _report("event", ACTIONS)

    from services import escalation, governance

    # Timed where route_action calls it (it imports the function by name).
    governance.move_on = _timed("escalation", escalation.move_on)  # type: ignore[attr-defined]
    intern_key = _intern_with_online_supervisor()
    for index in range(WARM_UP):
        _one_action(loop, intern_key, index)
    _spent.clear()
    for index in range(ACTIONS):
        _one_action(loop, intern_key, index)
    _report("proposal", ACTIONS)
    loop.close()


def _intern_with_online_supervisor() -> str:
    """An INTERN agent whose supervisor appears online: its actions become proposals asked
    of them first (the chain's common case)."""
    from datetime import timedelta

    from services import presence
    from services.actors import Actor
    from services.agents import create_agent
    from services.clock import utcnow
    from services.db import session_scope
    from services.policy import presence_rules
    from services.users import create_user

    now = utcnow()
    with session_scope() as session:
        user = create_user(
            session=session,
            username="profiled",
            password="bench password",
            role="supervisor",
            now=now,
            actor=Actor.system(),
        )
        presence.set_override(
            session=session,
            user_id=user.id,
            state="online",
            now=now,
            rules=presence_rules(),
            expires_at=now + timedelta(hours=1),
        )
        return create_agent(
            session=session,
            name="profiled-intern",
            category="bench",
            maturity_level="INTERN",
            supervisor_id=user.id,
            now=now,
            actor=Actor.system(),
        ).api_key


if __name__ == "__main__":
    main()
