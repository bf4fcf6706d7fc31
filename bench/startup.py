"""How long `make run` takes to serve the dashboard: from starting the server process to the
sign-in page and the API answering (what a user waits for after `make run`, once installed).

Prints JSON lines:
  {"metric": "cold_start_s", "seconds": …}   the sources changed: compile and build the dashboard
  {"metric": "warm_start_s", "seconds": …}   nothing changed: the build is reused (median of 3)
Goal (issue 19): warm start < 3 s. Uses this checkout's .web/: run it while no other app from
this directory is serving (a rebuild replaces the files it serves).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import statistics  # noqa: E402

from bench.common import ROOT, DashboardServer, emit, free_port, use_temp_data_dir  # noqa: E402

use_temp_data_dir()

from supervision_app.warm_start import STAMP  # noqa: E402

WARM_RUNS = 3


def start_once(port: int) -> float:
    server = DashboardServer(port=port)
    try:
        return server.ready_after_s
    finally:
        server.stop()


def main() -> None:
    port = free_port()
    (ROOT / STAMP).unlink(missing_ok=True)  # as after a change to the sources
    emit(metric="cold_start_s", seconds=round(start_once(port), 2))
    warm = [start_once(port) for _ in range(WARM_RUNS)]
    emit(
        metric="warm_start_s",
        seconds=round(statistics.median(warm), 2),
        runs=[round(s, 2) for s in warm],
    )


if __name__ == "__main__":
    main()
