"""Presence at scale: dashboard tabs' heartbeats, the HTTP route's, and one transition pass.

Prints JSON lines:
- dashboard_heartbeat_100_tabs and dashboard_heartbeat_500_tabs: the product's own path. Each
  tab is a dashboard page as the browser holds it (Reflex's websocket, signed in by the
  browser's cookie; bench/_reflex_tabs.py) and sends `NavState.activity` every second, 30
  times the real rate, for 20 s. Latency p50/p99 from sending the beat to its last answer (seen
  through a barrier event sent right after it, which adds one small event of server work),
  and the app's CPU per beat (app_cpu_ms_per_beat, the whole app process tree).
- heartbeat_http_50_sessions and heartbeat_http_500_sessions: the same through
  `POST /api/users/{id}/activity/heartbeat`, for API clients.
- transition_pass_10000_users: one scheduler pass moving 10,000 users from online to away;
  ..._none_due is the next pass, with nobody left to move.
Seed targets: heartbeat p99 < 50 ms, pass < 1 s. Goals: dashboard heartbeat p99 < 10 ms at
500 tabs, pass < 0.1 s.
Each user's first heartbeat (coming online: a recorded, audited move) is reported apart as
..._first_beat; all users join in the same second here, so the steady state is measured
after a warm-up of WARM_UP_S. The app and the client run on separate CPUs where there are two or
more (printed as app_cpus and client_cpus).
`bench/presence.py dashboard|http|pass` runs one part.
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
from datetime import datetime, timedelta  # noqa: E402

import aiohttp  # noqa: E402

from bench._reflex_tabs import (  # noqa: E402
    ProcessTreeCpu,
    activity_handler_name,
    run_tabs_detailed,
)
from bench.common import (  # noqa: E402
    DashboardServer,
    StealMeter,
    emit,
    percentiles,
    running_on,
    split_cpus,
    use_temp_data_dir,
)

use_temp_data_dir()

from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from models import PresenceStatus, User  # noqa: E402
from services import presence, presence_transitions  # noqa: E402
from services.clock import utcnow  # noqa: E402
from services.db import session_scope  # noqa: E402
from services.migrations import upgrade_database  # noqa: E402
from services.policy import presence_rules  # noqa: E402
from services.security import hash_password  # noqa: E402
from services.users import UserRead, start_login_session  # noqa: E402
from supervision_app.api.gc_tuning import tune_garbage_collector  # noqa: E402

DURATION_S = 20
WARM_UP_S = 5


def make_users(count: int, prefix: str) -> list[int]:
    """Bulk rows for the benchmark (one shared password hash: creating each through argon2
    would take minutes and measure nothing of interest here)."""
    now = utcnow()
    password_hash = hash_password("bench password")
    rows = [
        {
            "username": f"{prefix}{i}",
            "display_name": f"{prefix}{i}",
            "role": "supervisor",
            "password_hash": password_hash,
            "is_active": True,
            "created_at": now,
        }
        for i in range(count)
    ]
    with session_scope() as session:
        session.execute(insert(User), rows)
    with session_scope() as session:
        query = select(User.id).where(col(User.username).startswith(prefix))
        return list(session.exec(query).all())


def sign_in(session: Session, user_id: int, now: datetime) -> str:
    """A sign-in token for the user, as signing in gives one."""
    user = UserRead.model_validate(session.get(User, user_id), from_attributes=True)
    return start_login_session(session=session, user=user, now=now, ttl=timedelta(hours=1)).token


def dashboard_cookies(user_ids: list[int]) -> list[str]:
    """A browser's sign-in cookie for each user."""
    from supervision_app.states.auth import SESSION_COOKIE

    now = utcnow()
    with session_scope() as session:
        return [f"{SESSION_COOKIE}={sign_in(session, user_id, now)}" for user_id in user_ids]


def dashboard_runs() -> None:
    app_cpus, client_cpus = split_cpus() or (None, None)
    server = DashboardServer(cpus=app_cpus)
    handler = activity_handler_name(str(Path(__file__).resolve().parent.parent))
    try:
        for count in (100, 500):
            cookies = dashboard_cookies(make_users(count, f"tab{count}-"))
            steal = StealMeter()
            cpu = {}

            def started() -> None:
                cpu["meter"] = ProcessTreeCpu(server.pid)  # noqa: B023 - read right away

            with running_on(client_cpus):
                # Each user's first beat is a recorded, audited move online, and all users
                # join at once here: the steady state is measured after WARM_UP_S.
                run = asyncio.run(
                    run_tabs_detailed(
                        server.url,
                        cookies,
                        1.0,
                        DURATION_S,
                        handler=handler,
                        on_started=started,
                        warm_up_s=WARM_UP_S,
                    )
                )
            app_cpu_s = cpu["meter"].seconds()
            emit(
                metric=f"dashboard_heartbeat_{count}_tabs",
                **percentiles(run.steady_ms),
                app_cpu_ms_per_beat=round(1000 * app_cpu_s / max(1, run.beats_sent), 2),
                errors=run.errors,
                host_cpu_steal_pct=steal.percent(),
                app_cpus=sorted(app_cpus or []),
                client_cpus=sorted(client_cpus or []),
            )
            emit(
                metric=f"dashboard_heartbeat_{count}_tabs_first_beat",
                **percentiles(run.first_beat_ms),
            )
    finally:
        server.stop()


def open_tabs(user_ids: list[int]) -> list[tuple[int, str, str]]:
    """(user id, sign-in token, tab token) for an API client's tab per user."""
    now = utcnow()
    tabs = []
    with session_scope() as session:
        for user_id in user_ids:
            tab_token, _ = presence.open_tab(session=session, user_id=user_id, now=now)
            tabs.append((user_id, sign_in(session, user_id, now), tab_token))
    return tabs


def server_ms(response: aiohttp.ClientResponse) -> float:
    """The app's own time for the request, from its Server-Timing header."""
    timing = response.headers.get("server-timing", "app;dur=0")
    return float(timing.partition("dur=")[2] or 0)


async def heartbeats(
    url: str, tabs: list[tuple[int, str, str]]
) -> tuple[list[float], list[float], list[float]]:
    """Each tab beats once a second. aiohttp, not httpx: at 500 connections httpx's own
    overhead dominated the figures. Returns client-observed latencies of steady beats, of
    first (joining) beats, and the app's own time for steady beats."""
    samples: list[float] = []
    joins: list[float] = []
    in_app: list[float] = []
    # This one process plays 500 browsers: its own garbage collections would stall every tab
    # at once and be charged to the server, so the client's collector is tuned like the app's.
    tune_garbage_collector()
    connector = aiohttp.TCPConnector(limit=len(tabs))
    async with aiohttp.ClientSession(url, connector=connector) as client:

        async def tab_loop(user_id: int, login: str, tab: str) -> None:
            await asyncio.sleep(random.random())
            warm_until = time.monotonic() + WARM_UP_S  # everyone comes online, as above
            deadline = warm_until + DURATION_S
            headers = {"Authorization": f"Bearer {login}"}
            joined = False
            while time.monotonic() < deadline:
                measured = time.monotonic() >= warm_until
                started = time.perf_counter()
                async with client.post(
                    f"/api/users/{user_id}/activity/heartbeat",
                    json={"session_token": tab},
                    headers=headers,
                ) as response:
                    await response.read()
                    response.raise_for_status()
                    if measured:
                        in_app.append(server_ms(response))
                took_ms = (time.perf_counter() - started) * 1000
                if not joined:
                    joins.append(took_ms)
                elif measured:
                    samples.append(took_ms)
                joined = True
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))

        await asyncio.gather(*(tab_loop(*tab) for tab in tabs))
    return samples, joins, in_app


def transition_pass(count: int) -> tuple[float, float]:
    """One pass moving `count` users from online to away (the worst case: everyone at once),
    then the next pass, which finds nobody due (what most passes are)."""
    # The pass runs in the app's process, whose garbage collector the app tunes at start.
    tune_garbage_collector()
    user_ids = make_users(count, "pass")
    now = utcnow()
    stale = now - timedelta(minutes=6)
    with session_scope() as session:
        session.execute(
            insert(PresenceStatus),
            [
                {"user_id": uid, "state": "online", "since": stale, "last_heartbeat_at": stale}
                for uid in user_ids
            ],
        )
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        with session_scope() as session:
            presence_transitions.run_presence_pass(session=session, now=now, rules=presence_rules())
        timings.append(time.perf_counter() - started)
    return timings[0], timings[1]


def main() -> None:
    """`bench/presence.py` runs everything; `dashboard`, `http` or `pass` only that part."""
    part = sys.argv[1] if len(sys.argv) > 1 else "all"
    upgrade_database()
    if part in ("all", "dashboard"):
        dashboard_runs()
    if part in ("all", "http"):
        heartbeat_runs()
    if part in ("all", "pass"):
        everyone, nobody = transition_pass(10_000)
        emit(metric="transition_pass_10000_users", seconds=round(everyone, 3))
        emit(metric="transition_pass_10000_users_none_due", seconds=round(nobody, 3))


def heartbeat_runs() -> None:
    app_cpus, client_cpus = split_cpus() or (None, None)
    # The whole app as `make run` runs it: its scheduler flushes the beats kept in memory.
    server = DashboardServer(cpus=app_cpus)
    try:
        for count in (50, 500):
            tabs = open_tabs(make_users(count, f"hb{count}-"))
            steal = StealMeter()
            with running_on(client_cpus):
                samples, joins, in_app = asyncio.run(heartbeats(server.url, tabs))
            emit(
                metric=f"heartbeat_http_{count}_sessions",
                **percentiles(samples),
                host_cpu_steal_pct=steal.percent(),
                app_cpus=sorted(app_cpus or []),
                client_cpus=sorted(client_cpus or []),
            )
            # The same beats timed inside the app (Server-Timing): the rest is the network
            # and the client, which shares this machine's two cores with the app.
            emit(metric=f"heartbeat_http_{count}_sessions_in_app", **percentiles(in_app))
            # Each tab's first heartbeat is a state change (offline -> online, audited): all
            # tabs join within the first second here, so these queue behind one another.
            emit(metric=f"heartbeat_http_{count}_sessions_first_beat", **percentiles(joins))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
