"""One app process for the scaled-out tests: the real HTTP API, plus the scheduler's own
dispatch and liveness jobs run every 0.2 s (the in-process scheduler runs them every 10-30 s,
too slow for a test). Several of these share one database, as app processes scaled out do.

    python -m uvicorn --factory tests.scaled.app_process:build --port N
"""

from __future__ import annotations

import logging
import threading
import time

from fastapi import FastAPI

from scheduler import jobs
from supervision_app.api.app import build_api

logger = logging.getLogger(__name__)
TICK_S = 0.2


def _run_jobs_forever() -> None:
    while True:
        for job in (jobs.queue_dispatch, jobs.run_liveness):
            try:
                job()
            except Exception:  # noqa: BLE001 - a failed tick is retried, as the scheduler does
                logger.exception("job %s failed", job.__name__)
        time.sleep(TICK_S)


def build() -> FastAPI:
    threading.Thread(target=_run_jobs_forever, name="jobs", daemon=True).start()
    return build_api()
