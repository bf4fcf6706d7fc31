"""Scaled out: three app processes on one database, eight agents draining a queue of
SUPERVISED work through the HTTP API with the bundled client's protocol, one process killed
with SIGKILL in the middle and started again, and a lost threshold far shorter than the
drain. Every entry must run exactly once (the agents count what they did), and none may be
lost or left behind.

On PostgreSQL (TEST_DATABASE_URL) the processes really run side by side; on SQLite they share
one file. (Before the run liveness model, this drain ran 8 entries twice in two of two runs.)
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert
from sqlmodel import select

from models import Execution, QueueEntry
from services.clock import utcnow
from services.db import read_scope, session_scope
from tests.factories import appear_online, make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")
ROOT = Path(__file__).resolve().parents[2]
ENTRIES = 400
AGENTS = 8
PROCESSES = 3
LOST_AFTER_S = 10
DEADLINE_S = 120


class AppProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.scaled.app_process:build",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("app process did not start")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DrainingAgent(threading.Thread):
    """Takes its work from any process, reports a start, acts once, reports completion; on a
    dead process it sends the same request to another one."""

    def __init__(self, key: str, apps: list[AppProcess], done: threading.Event, acted: Counter):
        super().__init__(daemon=True)
        self.headers = {"Authorization": f"Bearer {key}"}
        self.apps, self.done, self.acted = apps, done, acted
        self.errors: list[str] = []
        self.slowest_s = 0.0

    def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        while not self.done.is_set():
            app = random.choice(self.apps)
            try:
                started = time.monotonic()
                response = httpx.request(
                    method, app.url + path, headers=self.headers, timeout=10, **kwargs
                )
                self.slowest_s = max(self.slowest_s, time.monotonic() - started)
                return response
            except httpx.HTTPError:
                time.sleep(0.05)  # that process is down: try another
        raise RuntimeError("stopped")

    def run(self) -> None:
        try:
            while not self.done.is_set():
                work = self.call("GET", "/api/v1/agents/me/work", params={"limit": 2})
                if work.status_code != 200:
                    self.errors.append(f"work {work.status_code} {work.text}")
                    continue
                items = work.json()
                if not items:
                    time.sleep(0.05)
                for item in items:
                    self.perform(item["execution"])
        except RuntimeError:
            pass

    def perform(self, run: dict) -> None:
        path = f"/api/v1/executions/{run['id']}/events"
        started = self.call("POST", path, json={"events": [{"type": "log", "message": "go"}]})
        if started.status_code != 200:
            self.errors.append(f"start {started.status_code} {started.text}")
            return
        self.acted[run["queue_entry_id"]] += 1  # the side effect: must happen once per entry
        while True:
            answer = self.call("POST", path, json={"events": [{"type": "completed"}]})
            if answer.status_code == 200:
                return
            body = answer.json()
            if answer.status_code == 409 and body.get("status") == "completed":
                return  # our earlier completion was stored; its answer was lost
            self.errors.append(f"complete {answer.status_code} {answer.text}")
            return


def make_team() -> tuple[int, list[tuple[int, str]]]:
    now = utcnow()
    supervisor = make_user(now)
    with session_scope() as session:
        appear_online(session, supervisor.id, now)
    agents = [
        make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id) for _ in range(AGENTS)
    ]
    return supervisor.id, [(agent.agent.id, agent.api_key) for agent in agents]


def enqueue(supervisor_id: int, agent_ids: list[int]) -> None:
    """The backlog arrives while agents and processes run (dispatched at once: all online)."""
    now = utcnow()
    with session_scope() as session:
        session.execute(
            insert(QueueEntry),
            [
                {
                    "agent_id": agent_ids[i % AGENTS],
                    "supervisor_id": supervisor_id,
                    "action": f"job{i}",
                    "parameters": {},
                    "reason": "",
                    "priority": 0,
                    "status": "pending",
                    "attempts": 0,
                    "max_attempts": 3,
                    "created_at": now,
                    "expires_at": now + timedelta(hours=1),
                }
                for i in range(ENTRIES)
            ],
        )


def lost_runs() -> list[tuple]:
    """(id, agent, offered, last seen, ended), in seconds after creation: why runs were lost."""
    with read_scope() as session:
        lost = session.exec(select(Execution).where(Execution.status == "lost").limit(8)).all()
    return [
        (
            run.id,
            run.agent_id,
            run.offered_at and (run.offered_at - run.created_at).total_seconds(),
            run.last_seen_at and (run.last_seen_at - run.created_at).total_seconds(),
            (run.finished_at - run.created_at).total_seconds(),
        )
        for run in lost
    ]


def entry_statuses() -> Counter:
    with read_scope() as session:
        return Counter(session.exec(select(QueueEntry.status)).all())


def test_every_entry_runs_exactly_once_across_processes_with_one_killed(database):
    supervisor_id, agents_and_keys = make_team()
    env = {
        **os.environ,
        "RUN_LOST_AFTER_S": str(LOST_AFTER_S),
        "RUN_STALE_AFTER_S": "1",
        "GOVERNANCE_CACHE": "false",
        "SCHEDULER_ENABLED": "false",
        "AGENT_REQUESTS_PER_MINUTE": "100000",
    }
    apps = [AppProcess(env) for _ in range(PROCESSES)]
    for app in apps:
        app.start()
    done, acted = threading.Event(), Counter()
    agents = [DrainingAgent(key, apps, done, acted) for _, key in agents_and_keys]
    try:
        for agent in agents:
            agent.start()
        enqueue(supervisor_id, [agent_id for agent_id, _ in agents_and_keys])
        while sum(acted.values()) < ENTRIES // 3:
            time.sleep(0.05)
        apps[0].kill()  # mid-drain, mid-request for some agents
        time.sleep(1.0)
        apps[0].start()
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            if entry_statuses().get("completed", 0) == ENTRIES:
                break
            time.sleep(0.2)
    finally:
        done.set()
        for agent in agents:
            agent.join(timeout=15)
        for app in apps:
            app.stop()
    statuses = entry_statuses()
    with read_scope() as session:
        runs = session.exec(select(Execution.queue_entry_id, Execution.status)).all()
    assert statuses == Counter({"completed": ENTRIES}), (statuses, sum(acted.values()))
    assert len(acted) == ENTRIES and set(acted.values()) == {1}, [
        entry for entry, times in acted.items() if times != 1
    ]
    slowest = max(agent.slowest_s for agent in agents)
    assert Counter(status for _, status in runs) == Counter({"completed": ENTRIES}), (
        f"slowest request {slowest:.2f} s",
        lost_runs(),
    )
    assert [error for agent in agents for error in agent.errors] == []
