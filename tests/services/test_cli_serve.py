"""`cli serve` stops the server it started when it is stopped itself, not only on Ctrl+C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Stands for `reflex run`: prints its pid, then serves until it is stopped.
SERVER = "import os, time; print(os.getpid(), flush=True); time.sleep(120)"
# Stands for `reflex run` under granian: it starts a backend worker and, like granian, treats
# SIGINT and SIGTERM alike; shutting down takes a moment, and a second signal in that moment
# deadlocks it. It prints its pid and the worker's once it is ready to be stopped.
GRANIAN_LIKE = """
import os, signal, subprocess, sys, threading, time
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
stopping = []
def stop(signum, frame):
    if stopping:
        threading.Event().wait()
    stopping.append(signum)
    raise SystemExit
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
try:
    print(os.getpid(), worker.pid, flush=True)
    time.sleep(120)
finally:
    time.sleep(0.3)
"""
# A server that never stops on request: only SIGKILL ends it (and its worker).
DEAF = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(os.getpid(), worker.pid, flush=True)
time.sleep(120)
"""


def _runner(server: str, **kwargs: float) -> str:
    return (
        "import sys; from supervision_app.cli import run_until_stopped; "
        f"sys.exit(run_until_stopped([sys.executable, '-c', {server!r}], **{kwargs!r}))"
    )


def test_a_stopped_serve_stops_its_server_too():
    runner = subprocess.Popen(
        [sys.executable, "-c", _runner(SERVER)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    server_pid = int(runner.stdout.readline())
    runner.send_signal(signal.SIGTERM)  # as `kill` would
    runner.wait(timeout=30)
    assert _gone_within(10, server_pid), "the server outlived the command that started it"


@pytest.mark.parametrize(
    ("stop_signal", "times"),
    [(signal.SIGTERM, 5), (signal.SIGINT, 1)],
    ids=["SIGTERM-to-the-group-5-times", "Ctrl+C"],
)
def test_a_signal_to_the_whole_group_stops_a_granian_like_server(stop_signal, times):
    for _ in range(times):
        with _started(_runner(GRANIAN_LIKE)) as (runner, pids):
            os.killpg(runner.pid, stop_signal)  # as `kill -- -PGID`, or the terminal, would
            # Well inside the 15 s grace: it stopped on one signal, it was not killed.
            assert runner.wait(timeout=10) == 0
            assert _gone_within(5, *pids), "the server or its worker outlived the runner"


def test_a_server_that_ignores_sigterm_is_killed_after_the_grace_period():
    with _started(_runner(DEAF, grace=1.0)) as (runner, pids):
        os.killpg(runner.pid, signal.SIGTERM)
        runner.wait(timeout=1.0 + 5)
        assert _gone_within(5, *pids), "the server or its worker outlived the grace period"


@contextlib.contextmanager
def _started(runner_code: str) -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """A runner in its own process group (so signalling the group spares pytest), and the pids
    its server printed; whatever is left is SIGKILLed afterwards, even when the test failed."""
    runner = subprocess.Popen(
        [sys.executable, "-c", runner_code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    pids: list[int] = []
    try:
        pids = [int(pid) for pid in runner.stdout.readline().split()]
        assert pids, "the stand-in server did not start"
        yield runner, pids
    finally:
        for pid in (runner.pid, *pids):
            with contextlib.suppress(ProcessLookupError):
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        runner.wait(timeout=10)
        runner.stdout.close()


def _gone_within(seconds: float, *pids: int) -> bool:
    deadline = time.monotonic() + seconds
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or exited (a zombie not yet reaped by its parent)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split()[2] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return False
