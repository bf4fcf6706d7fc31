"""Throughput on the agents' path against the stack's own ceiling (issue 19, part 2).

Serves the app's API and the minimal baseline (bench/baseline_app.py: one INSERT + COMMIT per
request, same engine, PRAGMAs and writer lock) with granian on one CPU, each with a fresh
database, and drives them from the other CPU with 32 concurrent clients, interleaved (app,
baseline, app, baseline, …) so that a noisy moment of the machine hits both.

Prints JSON lines:
  action_throughput_ratio {value, app_per_s, baseline_per_s}: AUTONOMOUS actions
  event_throughput_ratio {value, app_per_s, baseline_per_s}: one event per request
  action_latency_32_clients {p50_ms, p99_ms, n, baseline_p50_ms, baseline_p99_ms}
  server_cpu_ms_per_action {app, baseline}, and server_cpu_ms_per_event
Goals: both ratios >= 0.6 and action p50 < 50 ms at 32 clients, on SQLite. With
BENCH_DATABASE_URL it runs on PostgreSQL (each server gets its own database).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import asyncio  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from bench.common import (  # noqa: E402
    ApiServer,
    emit,
    percentiles,
    running_on,
    split_cpus,
    use_temp_data_dir,
)

CLIENTS = 32
SECONDS = 5.0
ROUNDS = 3
# The app's per-agent request budget is not what is measured here.
SERVER_ENV = {"AGENT_REQUESTS_PER_MINUTE": "100000000", "SCHEDULER_ENABLED": "false"}


def fresh_database() -> dict[str, str]:
    """Point this process (and the server it starts next) at a new, migrated database."""
    use_temp_data_dir()
    from services.config import get_settings
    from services.db import dispose_engines
    from services.migrations import upgrade_database

    get_settings.cache_clear()
    dispose_engines()
    upgrade_database()
    return {"DATA_DIR": os.environ["DATA_DIR"], "DATABASE_URL": os.environ["DATABASE_URL"]}


def make_agents(count: int) -> list[str]:
    from services.actors import Actor
    from services.agents import create_agent
    from services.clock import utcnow
    from services.db import session_scope

    with session_scope() as session:
        return [
            create_agent(
                session=session,
                name=f"fast-{index}",
                category="bench",
                maturity_level="AUTONOMOUS",
                now=utcnow(),
                actor=Actor.system(),
            ).api_key
            for index in range(count)
        ]


def cpu_seconds(server: ApiServer) -> float:
    parent = psutil.Process(server.process.pid)
    total = 0.0
    for process in [parent, *parent.children(recursive=True)]:
        times = process.cpu_times()
        total += times.user + times.system
    return total


async def drive(url: str, keys: list[str], kind: str) -> tuple[int, list[float]]:
    """CLIENTS loops for SECONDS: each an agent asking to act (or reporting one event per
    request on its own run); the number answered 2xx and each request's latency."""
    latencies: list[float] = []
    done = 0
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=CLIENTS)) as http:
        runs = []
        for key in keys:
            headers = {"Authorization": f"Bearer {key}"}
            async with http.post(
                "/api/v1/actions", json={"action": "warm_up"}, headers=headers
            ) as response:
                runs.append((await response.json()).get("execution_id"))
        stop = time.monotonic() + SECONDS

        async def client(key: str, run: int) -> None:
            nonlocal done
            headers = {"Authorization": f"Bearer {key}"}
            index = 0
            while time.monotonic() < stop:
                index += 1
                if kind == "action":
                    path, body = (
                        "/api/v1/actions",
                        {"action": "summarize", "parameters": {"n": index}},
                    )
                else:
                    path = f"/api/v1/executions/{run}/events"
                    body = {"events": [{"type": "log", "message": f"line {index}"}]}
                started = time.perf_counter()
                async with http.post(path, json=body, headers=headers) as response:
                    await response.read()
                    ok = response.status < 300
                latencies.append((time.perf_counter() - started) * 1000)
                done += ok

        await asyncio.gather(*(client(key, run) for key, run in zip(keys, runs, strict=True)))
    return done, latencies


def measure(factory: str, kind: str, cpus, client_cpus) -> tuple[float, list[float], float]:  # noqa: ANN001
    """One round on a fresh database: requests per second, latencies, server CPU ms each."""
    fresh_database()
    keys = make_agents(CLIENTS)
    server = ApiServer(workers_env=SERVER_ENV, cpus=cpus, factory=factory)
    try:
        before = cpu_seconds(server)
        with running_on(client_cpus):
            done, latencies = asyncio.run(drive(server.url, keys, kind))
        used = cpu_seconds(server) - before
    finally:
        server.stop()
    return done / SECONDS, latencies, 1000 * used / max(done, 1)


def main() -> None:
    app_cpus, client_cpus = split_cpus() or (None, None)
    app_factory, baseline_factory = (
        "supervision_app.api.app:build_api",
        ("bench.baseline_app:build_baseline"),
    )
    for kind in ("action", "event"):
        results: dict[str, list[tuple[float, list[float], float]]] = {"app": [], "baseline": []}
        for _ in range(ROUNDS):
            results["app"].append(measure(app_factory, kind, app_cpus, client_cpus))
            results["baseline"].append(measure(baseline_factory, kind, app_cpus, client_cpus))
        app = statistics.median(r[0] for r in results["app"])
        base = statistics.median(r[0] for r in results["baseline"])
        emit(
            metric=f"{kind}_throughput_ratio",
            value=round(app / base, 2) if base else None,
            app_per_s=round(app),
            baseline_per_s=round(base),
        )
        emit(
            metric=f"server_cpu_ms_per_{kind}",
            app=round(statistics.median(r[2] for r in results["app"]), 2),
            baseline=round(statistics.median(r[2] for r in results["baseline"]), 2),
        )
        if kind == "action":
            app_latency = percentiles([ms for r in results["app"] for ms in r[1]])
            base_latency = percentiles([ms for r in results["baseline"] for ms in r[1]])
            emit(
                metric="action_latency_32_clients",
                **app_latency,
                baseline_p50_ms=base_latency["p50_ms"],
                baseline_p99_ms=base_latency["p99_ms"],
            )


if __name__ == "__main__":
    main()
