"""Sending the outbox's callback notifications to agents' servers: claim → send → record.

A short transaction claims a batch (services/notifications.claim_due pushes each one's next
attempt out by CLAIM_LEASE, so no other worker or process takes it meanwhile). The batch is
then sent with no transaction open, all at once, each request cut at SEND_TIMEOUT_S however
slowly the receiver answers or drips its bytes; so a batch takes at most that long, well
inside the lease, and a notification is never sent twice by two workers. Each result is then
recorded in a short transaction of its own, only while the claim still holds.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import httpx

from services import notifications
from services.clock import utcnow
from services.db import session_scope
from services.notifications import CLAIM_LEASE, Delivery

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 10.0
BATCH_SIZE = 50
# The claim must outlive the slowest batch (every request cut at SEND_TIMEOUT_S, sent at
# once), with room for the transactions around it.
assert CLAIM_LEASE.total_seconds() >= 3 * SEND_TIMEOUT_S

Result = tuple[int | None, str | None]  # (HTTP status, error)


async def _send_one(client: httpx.AsyncClient, delivery: Delivery, timeout_s: float) -> Result:
    try:
        response = await asyncio.wait_for(
            client.post(delivery.url, content=delivery.body, headers=delivery.headers),
            timeout=timeout_s,
        )
    except TimeoutError:
        return None, f"no answer within {timeout_s:g} s"
    except Exception as failure:  # noqa: BLE001 - any network failure is retried
        return None, f"{type(failure).__name__}: {failure}"
    return response.status_code, None


async def _send_all(deliveries: list[Delivery], timeout_s: float) -> list[Result]:
    limits = httpx.Limits(max_connections=len(deliveries), max_keepalive_connections=0)
    async with httpx.AsyncClient(
        timeout=timeout_s, limits=limits, follow_redirects=False, trust_env=False
    ) as client:
        return await asyncio.gather(*(_send_one(client, d, timeout_s) for d in deliveries))


def send_batch(deliveries: list[Delivery], timeout_s: float = SEND_TIMEOUT_S) -> list[Result]:
    """POST every delivery at once; each request ends by `timeout_s`, answered or not."""
    if not deliveries:
        return []
    return asyncio.run(_send_all(deliveries, timeout_s))


def deliver_due(
    *, now: datetime | None = None, timeout_s: float = SEND_TIMEOUT_S, limit: int = BATCH_SIZE
) -> int:
    """Claim due notifications, send them with no transaction open, record each result;
    the number claimed."""
    with session_scope() as session:
        due = notifications.claim_due(session=session, now=now or utcnow(), limit=limit)
    results = send_batch(due, timeout_s)
    for delivery, (status, error) in zip(due, results, strict=True):
        with session_scope() as session:
            recorded = notifications.record_result(
                session=session, delivery=delivery, now=utcnow(), status=status, error=error
            )
        if not recorded:
            logger.warning("notification %d: claim lost before its result came", delivery.id)
    return len(due)
