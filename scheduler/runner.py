"""Builds the AsyncIOScheduler, registers the jobs, and reports whether it runs."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler import jobs
from services.clock import utcnow
from services.policy import presence_rules
from services.presence_memory import FLUSH_EVERY_S

logger = logging.getLogger(__name__)


@dataclass
class SchedulerStatus:
    running: bool = False
    last_run: dict[str, datetime] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)


status = SchedulerStatus()

# (job id, function, interval in seconds); the presence pass's interval follows the presence
# thresholds (`job_intervals`).
JOBS: list[tuple[str, Callable[[], None], float]] = [
    ("tidy_database", jobs.tidy_database, 3600),
    ("presence_flush", jobs.presence_flush, FLUSH_EVERY_S),
    ("presence_transitions", jobs.presence_transitions, 15),
    ("queue_dispatch", jobs.queue_dispatch, 30),
    ("run_liveness", jobs.run_liveness, 10),
    ("queue_expiry", jobs.queue_expiry, 60),
    ("proposal_escalation", jobs.proposal_escalation, 5),
    ("proposal_reviews", jobs.proposal_reviews, 60),
    ("shadow_reviews", jobs.shadow_reviews, 60),
    ("proposal_expiry", jobs.proposal_expiry, 60),
    ("callback_delivery", jobs.callback_delivery, 3),
    ("notice_delivery", jobs.notice_delivery, 3),
    ("run_monitoring", jobs.run_monitoring, 10),
]


def _in_thread(func: Callable[[], None]) -> Callable[[], object]:
    """Run a blocking job in a worker thread so the event loop never stalls on the database."""

    @functools.wraps(func)
    async def runner() -> None:
        await asyncio.to_thread(func)

    return runner


def _on_job_event(event: JobExecutionEvent) -> None:
    status.last_run[event.job_id] = utcnow()
    if event.exception is not None:
        status.last_error[event.job_id] = repr(event.exception)
        logger.error("scheduler job %s failed: %r", event.job_id, event.exception)
    else:
        status.last_error.pop(event.job_id, None)


def job_intervals() -> list[tuple[str, Callable[[], None], float]]:
    """JOBS with the presence pass as often as the configured thresholds need."""
    pass_every = presence_rules().pass_interval_s
    return [
        (job_id, func, pass_every if job_id == "presence_transitions" else seconds)
        for job_id, func, seconds in JOBS
    ]


def build_scheduler() -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
    )
    for job_id, func, seconds in job_intervals():
        scheduler.add_job(
            _in_thread(func), "interval", seconds=seconds, id=job_id, next_run_time=utcnow()
        )
    scheduler.add_listener(_on_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    return scheduler


@asynccontextmanager
async def run_scheduler() -> AsyncIterator[AsyncIOScheduler]:
    """Start the scheduler for the app's lifetime and stop it on shutdown."""
    scheduler = build_scheduler()
    scheduler.start()
    status.running = True
    try:
        yield scheduler
    finally:
        status.running = False
        scheduler.shutdown(wait=False)
        # The beats kept in memory are written before the process ends; later ones at once.
        await asyncio.to_thread(jobs.presence_flush, True)
