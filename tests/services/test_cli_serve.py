"""`cli serve` stops the server it started when it is stopped itself, not only on Ctrl+C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Stands for `reflex run`: prints its pid, then serves until it is stopped.
SERVER = "import os, time; print(os.getpid(), flush=True); time.sleep(120)"
RUNNER = (
    "import sys; from supervision_app.cli import run_until_stopped; "
    f"sys.exit(run_until_stopped([sys.executable, '-c', {SERVER!r}]))"
)


def test_a_stopped_serve_stops_its_server_too():
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    server_pid = int(runner.stdout.readline())
    runner.send_signal(signal.SIGTERM)  # as `kill` or a service manager would
    runner.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(server_pid):
        time.sleep(0.05)
    assert not _alive(server_pid), "the server outlived the command that started it"


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or exited (a zombie not yet reaped by its parent)."""
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] not in ("Z", "X")
