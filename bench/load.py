"""Mixed load over loopback for a fixed time, then a check of the database.

Agents act and report events, supervisors' presence heartbeats arrive over the HTTP route
(API clients' path: the dashboard's own tabs beat over its websocket, which needs the whole
app and is measured by bench/presence.py), proposals are decided.
Prints JSON lines: load_requests_per_s, p99 per route, errors, event_loop_max_stall_ms (goal
< 50), app_memory_growth_mb, and then load_lost_requests and load_duplicated (goals 0):
every accepted request is recorded exactly once.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Import from the repository root, never from bench/: bench/queue.py would shadow the standard
# library's queue module for every import made by this process.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import asyncio  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from datetime import timedelta  # noqa: E402

import aiohttp  # noqa: E402

from bench.common import ApiServer, emit, percentiles, use_temp_data_dir  # noqa: E402

use_temp_data_dir()

from sqlmodel import func, select  # noqa: E402

from models import ActionRequest, ExecutionEvent  # noqa: E402
from services import presence  # noqa: E402
from services.actors import Actor  # noqa: E402
from services.agents import create_agent  # noqa: E402
from services.clock import utcnow  # noqa: E402
from services.db import read_scope, session_scope  # noqa: E402
from services.migrations import upgrade_database  # noqa: E402
from services.users import create_user, start_login_session  # noqa: E402

DURATION_S = 20
AGENTS = 20
SUPERVISORS = 10


def setup():
    now = utcnow()
    supervisors, agents = [], []
    with session_scope() as session:
        for index in range(SUPERVISORS):
            user = create_user(
                session=session,
                username=f"sup{index}",
                password="bench password",
                role="supervisor",
                now=now,
                actor=Actor.system(),
            )
            login = start_login_session(session=session, user=user, now=now, ttl=timedelta(hours=1))
            tab, _ = presence.open_tab(session=session, user_id=user.id, now=now)
            supervisors.append((user.id, login.token, tab))
        for index in range(AGENTS):
            level = ("AUTONOMOUS", "INTERN", "SUPERVISED")[index % 3]
            owner = supervisors[index % SUPERVISORS][0]
            created = create_agent(
                session=session,
                name=f"load{index}",
                category="load",
                maturity_level=level,
                supervisor_id=owner,
                now=now,
                actor=Actor.system(),
            )
            agents.append((created.api_key, level))
    return supervisors, agents


class Tally:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.accepted_actions = 0
        self.accepted_events = 0

    async def call(self, http, method, route, url, **kwargs):
        started = time.perf_counter()
        async with http.request(method, url, **kwargs) as response:
            body = await response.json(content_type=None)
            self.latency[route].append((time.perf_counter() - started) * 1000)
            if response.status >= 500 or response.status in (401, 429):
                self.errors[f"{route} {response.status}"] += 1
            return response.status, body


async def run_load(url, supervisors, agents):
    tally = Tally()
    deadline = time.monotonic() + DURATION_S
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=200)) as http:

        async def agent_loop(key, level):
            headers = {"Authorization": f"Bearer {key}"}
            counter = 0
            while time.monotonic() < deadline:
                counter += 1
                status, body = await tally.call(
                    http,
                    "POST",
                    "actions",
                    "/api/v1/actions",
                    json={"action": "load_job", "idempotency_key": f"{key[-8:]}-{counter}"},
                    headers=headers,
                )
                if status in (200, 403):
                    tally.accepted_actions += 1
                execution_id = body.get("execution_id") if isinstance(body, dict) else None
                if execution_id:
                    for step in range(5):
                        batch = {
                            "events": [
                                {"type": "log", "message": f"step {step} line {n}"}
                                for n in range(4)
                            ]
                        }
                        status, _ = await tally.call(
                            http,
                            "POST",
                            "events",
                            f"/api/v1/executions/{execution_id}/events",
                            json=batch,
                            headers=headers,
                        )
                        if status == 200:
                            tally.accepted_events += 4
                    status, _ = await tally.call(
                        http,
                        "POST",
                        "events",
                        f"/api/v1/executions/{execution_id}/events",
                        json={"events": [{"type": "completed"}]},
                        headers=headers,
                    )
                    if status == 200:
                        tally.accepted_events += 1
                await asyncio.sleep(random.uniform(0.05, 0.2))

        async def supervisor_loop(user_id, token, tab):
            headers = {"Authorization": f"Bearer {token}"}
            # A tab's first beat brings its user online: a write, committed before it is
            # answered, so it queues behind the agents' writes; later beats only touch memory.
            label = "heartbeat_first"
            while time.monotonic() < deadline:
                await tally.call(
                    http,
                    "POST",
                    label,
                    f"/api/users/{user_id}/activity/heartbeat",
                    json={"session_token": tab},
                    headers=headers,
                )
                label = "heartbeat"
                status, pending = await tally.call(
                    http,
                    "GET",
                    "proposals",
                    "/api/supervision/proposals?status=pending&limit=5",
                    headers=headers,
                )
                for proposal in pending if status == 200 else []:
                    decision = random.choice(["approve", "reject"])
                    body = {} if decision == "approve" else {"reason": "load test"}
                    await tally.call(
                        http,
                        "POST",
                        "decide",
                        f"/api/supervision/proposals/{proposal['id']}/{decision}",
                        json=body,
                        headers=headers,
                    )
                await asyncio.sleep(1.0)

        await asyncio.gather(
            *(agent_loop(*a) for a in agents), *(supervisor_loop(*s) for s in supervisors)
        )
        _, health = await tally.call(http, "GET", "health", "/api/health")
    return tally, health


def main():
    upgrade_database()
    supervisors, agents = setup()
    server = ApiServer()
    try:
        rss_before = server.rss_mb()
        started = time.monotonic()
        tally, health = asyncio.run(run_load(server.url, supervisors, agents))
        elapsed = time.monotonic() - started
        rss_after = server.rss_mb()
    finally:
        server.stop()
    total = sum(len(v) for v in tally.latency.values())
    emit(metric="load_requests_per_s", value=round(total / elapsed, 1))
    for route, samples in sorted(tally.latency.items()):
        emit(metric=f"load_latency_{route}", **percentiles(samples))
    emit(metric="load_errors", value=sum(tally.errors.values()), by_route=dict(tally.errors))
    emit(metric="event_loop_max_stall_ms", value=health.get("event_loop_max_stall_ms"))
    emit(metric="app_memory_growth_mb", value=round(rss_after - rss_before, 1))
    with read_scope() as session:
        recorded_actions = session.exec(select(func.count()).select_from(ActionRequest)).one()
        distinct_keys = session.exec(
            select(func.count(func.distinct(ActionRequest.idempotency_key)))
        ).one()
        recorded_events = session.exec(
            select(func.count()).select_from(ExecutionEvent).where(ExecutionEvent.kind != "control")
        ).one()
    lost = max(0, tally.accepted_actions - recorded_actions) + max(
        0, tally.accepted_events - recorded_events
    )
    duplicated = (recorded_actions - distinct_keys) + max(
        0, recorded_events - tally.accepted_events
    )
    emit(metric="load_lost_requests", value=lost)
    emit(metric="load_duplicated", value=duplicated)


if __name__ == "__main__":
    main()
