"""Live streaming latency: from an agent's events POST returning to the event arriving at
each SSE client, with 1 and 100 concurrent streams; then sustained events per second.

Prints JSON lines: sse_latency_1_stream, sse_latency_100_streams ({p50_ms, p99_ms, n}),
events_per_s, and sse_memory_growth_mb_500_cycles (connect/disconnect; should stay flat).
Seed target < 100 ms; goal p99 < 25 ms with 100 streams, p50 single-digit ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Import from the repository root, never from bench/: bench/queue.py would shadow the standard
# library's queue module for every import made by this process.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import asyncio  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import aiohttp  # noqa: E402

from bench.common import ApiServer, emit, percentiles, use_temp_data_dir, watched_agents  # noqa: E402

use_temp_data_dir()

from services.migrations import upgrade_database  # noqa: E402

EVENTS = 200


def setup() -> tuple[str, str]:
    token, keys = watched_agents(["streamer"])
    return token, keys[0]


async def stream_latency(url: str, user_token: str, agent_key: str, streams: int) -> list[float]:
    agent_headers = {"Authorization": f"Bearer {agent_key}"}
    user_headers = {"Authorization": f"Bearer {user_token}"}
    posted_at: dict[int, float] = {}
    samples: list[float] = []
    async with aiohttp.ClientSession(
        url, connector=aiohttp.TCPConnector(limit=streams + 10)
    ) as http:
        async with http.post(
            "/api/v1/actions", json={"action": "stream"}, headers=agent_headers
        ) as response:
            execution_id = (await response.json())["execution_id"]
        ready = asyncio.Event()
        connected = 0

        async def reader() -> None:
            nonlocal connected
            async with http.get(
                f"/api/supervision/{execution_id}/stream", headers=user_headers
            ) as response:
                connected += 1
                if connected == streams:
                    ready.set()
                async for raw in response.content:
                    line = raw.decode().strip()
                    if line.startswith("data: ") and '"message":"m' in line:
                        arrived = time.perf_counter()
                        index = int(json.loads(line[6:])["message"][1:])
                        # Arriving before the POST even returned counts as 0 ms.
                        samples.append(max(0.0, (arrived - posted_at.get(index, arrived)) * 1000))
                    elif line.startswith("event: end"):
                        return

        readers = [asyncio.create_task(reader()) for _ in range(streams)]
        await asyncio.wait_for(ready.wait(), 30)
        await asyncio.sleep(0.5)
        events_url = f"/api/v1/executions/{execution_id}/events"
        for index in range(EVENTS):
            body = {"events": [{"type": "log", "message": f"m{index}"}]}
            async with http.post(events_url, json=body, headers=agent_headers) as response:
                await response.read()
            posted_at[index] = time.perf_counter()
            await asyncio.sleep(0.02)
        async with http.post(
            events_url, json={"events": [{"type": "completed"}]}, headers=agent_headers
        ) as response:
            await response.read()
        await asyncio.wait_for(asyncio.gather(*readers), 60)
    return samples


async def throughput(url: str, user_token: str, agent_key: str, seconds: float = 5.0) -> float:
    agent_headers = {"Authorization": f"Bearer {agent_key}"}
    async with aiohttp.ClientSession(url) as http:
        async with http.post(
            "/api/v1/actions", json={"action": "flood"}, headers=agent_headers
        ) as response:
            execution_id = (await response.json())["execution_id"]
        events_url = f"/api/v1/executions/{execution_id}/events"
        batch = {"events": [{"type": "log", "message": "x" * 80} for _ in range(50)]}
        sent = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            async with http.post(events_url, json=batch, headers=agent_headers) as response:
                await response.read()
            sent += 50
        return sent / (time.perf_counter() - started)


async def connect_cycles(url: str, user_token: str, agent_key: str, cycles: int) -> None:
    """Open a stream on a live run, read its first bytes, hang up; again and again."""
    agent_headers = {"Authorization": f"Bearer {agent_key}"}
    user_headers = {"Authorization": f"Bearer {user_token}"}
    async with aiohttp.ClientSession(url) as http:
        async with http.post(
            "/api/v1/actions", json={"action": "cycles"}, headers=agent_headers
        ) as response:
            execution_id = (await response.json())["execution_id"]
        for _ in range(cycles):
            async with http.get(
                f"/api/supervision/{execution_id}/stream", headers=user_headers
            ) as response:
                await response.content.readline()


def main() -> None:
    upgrade_database()
    user_token, agent_key = setup()
    server = ApiServer()
    try:
        for streams, name in ((1, "sse_latency_1_stream"), (100, "sse_latency_100_streams")):
            samples = asyncio.run(stream_latency(server.url, user_token, agent_key, streams))
            emit(metric=name, **percentiles(samples))
        emit(
            metric="events_per_s",
            value=round(asyncio.run(throughput(server.url, user_token, agent_key)), 1),
        )
        asyncio.run(connect_cycles(server.url, user_token, agent_key, 50))  # warm up
        before = server.rss_mb()
        asyncio.run(connect_cycles(server.url, user_token, agent_key, 500))
        time.sleep(2)
        emit(metric="sse_memory_growth_mb_500_cycles", value=round(server.rss_mb() - before, 1))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
