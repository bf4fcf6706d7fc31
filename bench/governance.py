"""Governance check speed: the cached routing decision, and a full action request over HTTP.

Prints JSON lines: governance_check_cached (100,000 decisions from the warm cache) and
action_http_roundtrip (POST /api/v1/actions to a running API on loopback).
Goal: governance_check_cached p99 < 0.1 ms (seed target: < 1 ms).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Import from the repository root, never from bench/: bench/queue.py would shadow the standard
# library's queue module for every import made by this process.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import time  # noqa: E402

import httpx  # noqa: E402

from bench.common import ApiServer, emit, percentiles, use_temp_data_dir  # noqa: E402

use_temp_data_dir()

from services import governance, presence  # noqa: E402
from services.actors import Actor  # noqa: E402
from services.agents import create_agent  # noqa: E402
from services.clock import utcnow  # noqa: E402
from services.db import read_scope, session_scope  # noqa: E402
from services.migrations import upgrade_database  # noqa: E402
from services.policy import governance_policy, presence_rules  # noqa: E402
from services.users import create_user  # noqa: E402

CALLS = 100_000
HTTP_REQUESTS = 500


def main() -> None:
    upgrade_database()
    now = utcnow()
    with session_scope() as session:
        supervisor = create_user(
            session=session,
            username="bench-sup",
            password="bench password",
            role="supervisor",
            now=now,
            actor=Actor.system(),
        )
        token, _ = presence.open_tab(session=session, user_id=supervisor.id, now=now)
        presence.write_activity(
            session=session,
            user_id=supervisor.id,
            tab_token=token,
            now=now,
            rules=presence_rules(),
        )
        supervised = create_agent(
            session=session,
            name="bench-supervised",
            category="bench",
            maturity_level="SUPERVISED",
            supervisor_id=supervisor.id,
            now=now,
            actor=Actor.system(),
        )
        autonomous = create_agent(
            session=session,
            name="bench-autonomous",
            category="bench",
            maturity_level="AUTONOMOUS",
            now=now,
            actor=Actor.system(),
        )

    policy = governance_policy()
    samples = []
    with read_scope() as session:
        governance.check(session=session, agent=supervised.agent, now=now, policy=policy)  # warm
        clock = time.perf_counter_ns
        for _ in range(CALLS):
            start = clock()
            governance.check(session=session, agent=supervised.agent, now=now, policy=policy)
            samples.append((clock() - start) / 1e6)
    emit(metric="governance_check_cached", **percentiles(samples))

    server = ApiServer()
    try:
        headers = {"Authorization": f"Bearer {autonomous.api_key}"}
        samples = []
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            for index in range(HTTP_REQUESTS):
                start = time.perf_counter()
                response = client.post(
                    "/api/v1/actions", json={"action": "bench", "idempotency_key": f"k{index}"}
                )
                samples.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text
        emit(metric="action_http_roundtrip", **percentiles(samples))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
