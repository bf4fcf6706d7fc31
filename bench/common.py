"""Shared helpers for the benchmarks: a throwaway app on loopback, and percentiles."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


class StealMeter:
    """Share of CPU time the host gave to other machines (`steal` in /proc/stat) while
    measuring: on a shared virtual machine latency figures move with it, so benches print it
    beside them. None where /proc/stat is missing."""

    def __init__(self) -> None:
        self._start = _cpu_times()

    def percent(self) -> float | None:
        end = _cpu_times()
        if self._start is None or end is None:
            return None
        total = sum(end) - sum(self._start)
        steal = end[7] - self._start[7]
        return round(100 * steal / total, 1) if total else 0.0


def _cpu_times() -> list[int] | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    return [int(value) for value in fields[:8]] if len(fields) >= 8 else None


def split_cpus() -> tuple[set[int], set[int]] | None:
    """CPUs for the app and for the benchmark client, kept apart (the client's last one, the
    app the rest), or None on a single CPU. One client process playing 500 browsers is busy
    enough to take the app's core from it at times; in use, browsers run on other machines."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return set(cpus[:-1]), {cpus[-1]}


@contextmanager
def running_on(cpus: set[int] | None) -> Iterator[None]:
    """Run this process on `cpus` (all of them if None) for the block."""
    before = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    if not ordered:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "n": 0}

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)

    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "n": len(ordered)}


def use_temp_data_dir() -> Path:
    """Point settings at a fresh data directory and database (before any service is imported).

    SQLite in that directory, or with BENCH_DATABASE_URL (a PostgreSQL server's maintenance
    database, e.g. `scripts/with-test-postgres.sh sh -c 'BENCH_DATABASE_URL=$TEST_DATABASE_URL
    .venv/bin/python bench/load.py'`) a new PostgreSQL database made for this run.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="supervision-bench-"))
    os.environ["DATA_DIR"] = str(data_dir)
    server_url = os.environ.get("BENCH_DATABASE_URL", "")
    if server_url:
        from tests.databases import create_postgres_database

        name = data_dir.name.replace("-", "_").lower()
        os.environ["DATABASE_URL"] = create_postgres_database(server_url, name)
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{data_dir / 'supervision.db'}"
    os.environ["SCHEDULER_ENABLED"] = "false"
    return data_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ApiServer:
    """The app's HTTP API (the FastAPI app Reflex mounts) served by granian, as `reflex run
    --env prod` serves it, in its own process."""

    def __init__(
        self,
        workers_env: dict[str, str] | None = None,
        cpus: set[int] | None = None,
        factory: str = "supervision_app.api.app:build_api",
    ) -> None:
        """`cpus`: run the app on these CPUs only (see `split_cpus`); `factory`: the ASGI app
        to serve (bench/baseline_app.py for the stack's own ceiling)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **(workers_env or {})}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "asgi",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--loop",
                "uvloop",
                factory,
            ],
            cwd=ROOT,
            env=env,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("API server did not start")

    def rss_mb(self) -> float:
        """Resident memory of the server and its worker processes (granian forks workers)."""
        import psutil

        parent = psutil.Process(self.process.pid)
        processes = [parent, *parent.children(recursive=True)]
        return sum(p.memory_info().rss for p in processes) / (1024 * 1024)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


class DashboardServer:
    """The whole app (dashboard, websocket and API) as `make run` starts it, in its own process
    group, with this run's settings (DATA_DIR, DATABASE_URL) from the environment."""

    def __init__(self, cpus: set[int] | None = None, port: int | None = None) -> None:
        self.started_at = time.monotonic()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # As `make run` runs it: with its scheduler (which flushes presence beats).
        env = {**os.environ, "PORT": str(self.port), "SITE_URL": self.url}
        env["SCHEDULER_ENABLED"] = "true"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supervision_app.cli", "serve", "--host", "127.0.0.1"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        deadline = time.monotonic() + 600  # the first start builds the frontend
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the app exited while starting")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    if httpx.get(f"{self.url}/login", timeout=5, follow_redirects=True).is_success:
                        self.ready_after_s = time.monotonic() - self.started_at
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the app did not start")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def watched_agents(names: list[str]) -> tuple[str, list[str]]:
    """A supervisor signed in and online (a tab open and active) and SUPERVISED agents of
    theirs: the sign-in token and the agents' keys. Call after `use_temp_data_dir`."""
    from datetime import timedelta

    from services import presence
    from services.actors import Actor
    from services.agents import create_agent
    from services.clock import utcnow
    from services.db import session_scope
    from services.policy import presence_rules
    from services.users import create_user, start_login_session

    now = utcnow()
    with session_scope() as session:
        user = create_user(
            session=session,
            username="watcher",
            password="bench password",
            role="supervisor",
            now=now,
            actor=Actor.system(),
        )
        login = start_login_session(session=session, user=user, now=now, ttl=timedelta(hours=1))
        tab, _ = presence.open_tab(session=session, user_id=user.id, now=now)
        presence.write_activity(
            session=session, user_id=user.id, tab_token=tab, now=now, rules=presence_rules()
        )
        keys = [
            create_agent(
                session=session,
                name=name,
                category="bench",
                maturity_level="SUPERVISED",
                supervisor_id=user.id,
                now=now,
                actor=Actor.system(),
            ).api_key
            for name in names
        ]
    return login.token, keys
