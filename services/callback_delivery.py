"""Sending the outbox's callback notifications to agents' servers: claim → send → record.

A short transaction claims a batch (services/notifications.claim_due pushes each one's next
attempt out by CLAIM_LEASE, so no other worker or process takes it meanwhile). The batch is
then sent with no transaction open, all at once: each host looked up and checked again
(services/outbound_urls.py: no private or loopback targets, DNS rebinding included) and the
request sent to the checked address, all cut at SEND_TIMEOUT_S however slowly the name
server or the receiver answers; so a batch takes at most that long, well
inside the lease, and a notification is never sent twice by two workers. Each result is then
recorded in a short transaction of its own, only while the claim still holds.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlsplit

import httpx

from services import notifications
from services.clock import utcnow
from services.db import session_scope
from services.errors import InvalidInput
from services.notifications import CLAIM_LEASE, Delivery
from services.outbound_urls import (
    CallbackTargets,
    OutboundRefused,
    Resolver,
    Target,
    resolve_target,
    system_resolver,
)
from services.policy import callback_targets

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 10.0
BATCH_SIZE = 50
# The claim must outlive the slowest batch (every request cut at SEND_TIMEOUT_S, sent at
# once), with room for the transactions around it.
assert CLAIM_LEASE.total_seconds() >= 3 * SEND_TIMEOUT_S

Result = tuple[int | None, str | None]  # (HTTP status, error)


# Name lookups run here, not in the event loop's default executor: a lookup that hangs
# past the deadline is abandoned, and nothing waits for it when the batch ends.
_lookups = ThreadPoolExecutor(max_workers=8, thread_name_prefix="callback-dns")
resolver: Resolver = system_resolver  # tests put a name server of their own here


async def _target(url: str, targets: CallbackTargets) -> Target:
    loop = asyncio.get_running_loop()
    # Resolved once, in the lookup pool; resolve_target checks every address it gets.
    host, port = _host_and_port(url)
    try:
        addresses = await loop.run_in_executor(_lookups, resolver, host, port)
    except (OSError, UnicodeError, ValueError) as error:
        raise OutboundRefused(f"'{host}' does not resolve ({error})") from None
    return resolve_target(url, targets, lambda _host, _port: addresses)


def _host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or ""), port or (443 if parts.scheme == "https" else 80)


async def _send_one(
    client: httpx.AsyncClient, delivery: Delivery, timeout_s: float, targets: CallbackTargets
) -> Result:
    """Look the host up, check where it leads, POST to that very address: all within
    `timeout_s`, answered or not."""

    async def send() -> Result:
        try:
            target = await _target(delivery.url, targets)
        except (OutboundRefused, InvalidInput) as refused:
            return None, f"refused: {refused}"
        extensions = {"sni_hostname": target.tls_server_name} if target.tls_server_name else {}
        response = await client.post(
            target.url,
            content=delivery.body,
            headers={**delivery.headers, "Host": target.host_header},
            extensions=extensions,
        )
        return response.status_code, None

    try:
        return await asyncio.wait_for(send(), timeout=timeout_s)
    except TimeoutError:
        return None, f"no answer within {timeout_s:g} s"
    except Exception as failure:  # noqa: BLE001 - any network failure is retried
        return None, f"{type(failure).__name__}: {failure}"


async def _send_all(
    deliveries: list[Delivery], timeout_s: float, targets: CallbackTargets
) -> list[Result]:
    limits = httpx.Limits(max_connections=len(deliveries), max_keepalive_connections=0)
    async with httpx.AsyncClient(
        timeout=timeout_s, limits=limits, follow_redirects=False, trust_env=False
    ) as client:
        return await asyncio.gather(*(_send_one(client, d, timeout_s, targets) for d in deliveries))


def send_batch(
    deliveries: list[Delivery],
    timeout_s: float = SEND_TIMEOUT_S,
    targets: CallbackTargets | None = None,
) -> list[Result]:
    """POST every delivery at once; each ends by `timeout_s`, name lookup included."""
    if not deliveries:
        return []
    return asyncio.run(_send_all(deliveries, timeout_s, targets or callback_targets()))


def deliver_due(
    *, now: datetime | None = None, timeout_s: float = SEND_TIMEOUT_S, limit: int = BATCH_SIZE
) -> int:
    """Claim due notifications, send them with no transaction open, record each result;
    the number claimed."""
    with session_scope() as session:
        due = notifications.claim_due(session=session, now=now or utcnow(), limit=limit)
    results = send_batch(due, timeout_s, callback_targets())
    for delivery, (status, error) in zip(due, results, strict=True):
        with session_scope() as session:
            recorded = notifications.record_result(
                session=session, delivery=delivery, now=utcnow(), status=status, error=error
            )
        if not recorded:
            logger.warning("notification %d: claim lost before its result came", delivery.id)
    return len(due)
