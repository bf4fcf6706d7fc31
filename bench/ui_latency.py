"""What a supervisor sees, and how fast: real Chromium on the run page, against the whole app.

20 runs are live at once (each agent reports a log line every 200 ms). On one run's page, a
MutationObserver notes when each of that run's 200 lines appears; the latency is from the
agent's POST returning (committed) to the line on screen. Then the supervisor clicks Pause
and Resume 20 times each, and the agent's control long-poll notes when it returns.

Prints JSON lines:
  {"metric": "event_to_screen", "p50_ms", "p99_ms", "n", "runs_live"}
  {"metric": "click_to_agent", "p50_ms", "p99_ms", "n", "runs_live"}
Goals (issue 18): both p99 < 100 ms with 20 runs live.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import asyncio  # noqa: E402
import time  # noqa: E402

import aiohttp  # noqa: E402

from bench.common import (  # noqa: E402
    DashboardServer,
    emit,
    percentiles,
    running_on,
    split_cpus,
    use_temp_data_dir,
    watched_agents,
)

use_temp_data_dir()

from services.migrations import upgrade_database  # noqa: E402

RUNS = 20
LINES = 200
EVERY_S = 0.2  # 5 events per second per run
CLICKS = 20
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Notes when each "ui-<n>-" line first appears on the page, and when Pause/Resume is clicked.
WATCH_SCRIPT = """
window.__seen = {}; window.__clicks = [];
new MutationObserver((records) => {
  const now = Date.now();
  for (const record of records) for (const node of record.addedNodes) {
    const text = node.textContent || '';
    for (const match of text.matchAll(/ui-(\\d+)-/g)) {
      if (!(match[1] in window.__seen)) window.__seen[match[1]] = now;
    }
  }
}).observe(document.body, {childList: true, subtree: true, characterData: true});
document.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  if (button && /^(Pause|Resume)$/.test(button.innerText.trim())) window.__clicks.push(Date.now());
}, true);
"""


def setup() -> tuple[str, list[str]]:
    """A supervisor (online) and the agents they supervise; the sign-in token and agent keys."""
    return watched_agents([f"live-{index}" for index in range(RUNS)])


async def start_runs(http: aiohttp.ClientSession, keys: list[str]) -> list[int]:
    runs = []
    for key in keys:
        async with http.post(
            "/api/v1/actions",
            json={"action": "watch_me"},
            headers={"Authorization": f"Bearer {key}"},
        ) as response:
            body = await response.json()
            if body.get("decision") != "approved_to_run":
                raise RuntimeError(f"the run did not start: {body}")
            runs.append(body["execution_id"])
    return runs


async def report_lines(
    http: aiohttp.ClientSession, key: str, run: int, count: int, prefix: str, posted: dict
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    for index in range(count):
        started = time.monotonic()
        body = {"events": [{"type": "log", "message": f"{prefix}{index}- line {index}"}]}
        async with http.post(
            f"/api/v1/executions/{run}/events", json=body, headers=headers
        ) as response:
            await response.read()
        posted[index] = time.time() * 1000
        await asyncio.sleep(max(0.0, EVERY_S - (time.monotonic() - started)))


async def background_load(http: aiohttp.ClientSession, keys: list[str], runs: list[int]) -> None:
    """The other runs report as steadily as the watched one, for as long as the bench runs."""
    while True:
        await asyncio.gather(
            *(
                report_lines(http, key, run, 50, "bg-", {})
                for key, run in zip(keys, runs, strict=True)
            )
        )


async def control_poll(http: aiohttp.ClientSession, key: str, run: int, ack: list[int]):
    """One long-poll for controls: when it returned (ms since the epoch) and the control ids."""
    query = f"?wait=30&ack={','.join(map(str, ack))}" if ack else "?wait=30"
    async with http.get(
        f"/api/v1/executions/{run}/control{query}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=aiohttp.ClientTimeout(total=40),
    ) as response:
        body = await response.json()
    return time.time() * 1000, [control["id"] for control in body.get("controls", [])]


async def run(server: DashboardServer, token: str, keys: list[str], client_cpus) -> None:  # noqa: ANN001
    from playwright.async_api import async_playwright

    from supervision_app.states.auth import SESSION_COOKIE

    async with aiohttp.ClientSession(server.url) as http:
        runs = await start_runs(http, keys)
        watched, watched_key = runs[0], keys[0]
        load = asyncio.create_task(background_load(http, keys[1:], runs[1:]))
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=BROWSER_ARGS
            )
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": server.url}])
            page = await context.new_page()
            await page.goto(f"{server.url}/runs/{watched}")
            await page.get_by_text("watch_me").first.wait_for(timeout=60000)
            await page.evaluate(WATCH_SCRIPT)
            await asyncio.sleep(2)  # the page's follower is running

            posted: dict[int, float] = {}
            await report_lines(http, watched_key, watched, LINES, "ui-", posted)
            await asyncio.sleep(1)
            seen = await page.evaluate("window.__seen")
            on_screen = [max(0.0, seen[str(i)] - posted[i]) for i in range(LINES) if str(i) in seen]
            emit(
                metric="event_to_screen",
                **percentiles(on_screen),
                runs_live=RUNS,
                missing=LINES - len(on_screen),
            )

            returned: list[float] = []
            ack: list[int] = []
            for _ in range(CLICKS):
                for label in ("Pause", "Resume"):
                    poll = asyncio.create_task(control_poll(http, watched_key, watched, ack))
                    await asyncio.sleep(0.3)  # the poll is waiting
                    await page.get_by_role("button", name=label, exact=True).click()
                    at, ack = await poll
                    returned.append(at)
            clicks = await page.evaluate("window.__clicks")
            to_agent = [
                max(0.0, at - clicked) for at, clicked in zip(returned, clicks, strict=True)
            ]
            emit(metric="click_to_agent", **percentiles(to_agent), runs_live=RUNS)
            await browser.close()
        load.cancel()


def main() -> None:
    upgrade_database()
    token, keys = setup()
    app_cpus, client_cpus = split_cpus() or (None, None)
    server = DashboardServer(app_cpus)
    try:
        with running_on(client_cpus):
            asyncio.run(run(server, token, keys, client_cpus))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
