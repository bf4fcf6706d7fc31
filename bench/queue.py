"""Queue dispatch speed: a supervisor comes online with 10 / 1,000 pending entries.

Prints JSON lines: dispatch_10 and dispatch_1000 ({"metric", "seconds"}: from the heartbeat
that brings the supervisor online to all their entries being dispatched, over HTTP) and
dispatch_throughput ({"metric", "per_s"}). Seed target < 5 s per 10; goal 1,000 in < 1 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Import from the repository root, never from bench/: bench/queue.py would shadow the standard
# library's queue module for every import made by this process.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import time  # noqa: E402
from datetime import timedelta  # noqa: E402

import httpx  # noqa: E402

from bench.common import ApiServer, emit, use_temp_data_dir  # noqa: E402

use_temp_data_dir()

from sqlalchemy import insert  # noqa: E402
from sqlmodel import func, select  # noqa: E402

from models import QueueEntry  # noqa: E402
from services import presence  # noqa: E402
from services.actors import Actor  # noqa: E402
from services.agents import create_agent  # noqa: E402
from services.clock import utcnow  # noqa: E402
from services.db import read_scope, session_scope  # noqa: E402
from services.migrations import upgrade_database  # noqa: E402
from services.users import create_user, start_login_session  # noqa: E402


def prepare(count: int, name: str) -> tuple[int, str, str]:
    now = utcnow()
    with session_scope() as session:
        user = create_user(
            session=session,
            username=name,
            password="bench password",
            role="supervisor",
            now=now,
            actor=Actor.system(),
        )
        login = start_login_session(session=session, user=user, now=now, ttl=timedelta(hours=1))
        tab, _ = presence.open_tab(session=session, user_id=user.id, now=now)
        agent = create_agent(
            session=session,
            name=f"{name}-bot",
            category="bench",
            maturity_level="SUPERVISED",
            supervisor_id=user.id,
            now=now,
            actor=Actor.system(),
        )
        session.execute(
            insert(QueueEntry),
            [
                {
                    "agent_id": agent.agent.id,
                    "supervisor_id": user.id,
                    "action": "job",
                    "parameters": {},
                    "reason": "",
                    "priority": i % 5,
                    "status": "pending",
                    "attempts": 0,
                    "max_attempts": 3,
                    "created_at": now,
                    "expires_at": now + timedelta(hours=24),
                }
                for i in range(count)
            ],
        )
    return user.id, login.token, tab


def dispatched(user_id: int) -> int:
    with read_scope() as session:
        return session.exec(
            select(func.count())
            .select_from(QueueEntry)
            .where(QueueEntry.supervisor_id == user_id, QueueEntry.status == "executing")
        ).one()


COUNTS = (10, 1000)


def main() -> None:
    upgrade_database()
    server = ApiServer()
    try:
        for count in COUNTS:
            user_id, token, tab = prepare(count, f"sup{count}")
            started = time.perf_counter()
            response = httpx.post(
                f"{server.url}/api/users/{user_id}/activity/heartbeat",
                json={"session_token": tab},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            response.raise_for_status()
            while dispatched(user_id) < count:
                time.sleep(0.01)
            seconds = time.perf_counter() - started
            emit(metric=f"dispatch_{count}", seconds=round(seconds, 3))
            if count == 1000:
                emit(metric="dispatch_throughput", per_s=round(count / seconds, 1))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
