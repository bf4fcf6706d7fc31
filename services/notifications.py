"""Signed callback notifications to agents, from an outbox, with retries and backoff.

A notification is written in the same transaction as the decision it announces (so it is
never lost and never announces something that did not commit), then delivered by a
scheduler job (services/callback_delivery.py): nothing that caused it waits for the agent's
server. The body is signed with HMAC-SHA256 using the agent's webhook secret:
`X-Supervision-Signature: sha256=<hex of HMAC(secret, raw body)>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from models import Agent, Notification
from services.security import sign_body

SIGNATURE_HEADER = "X-Supervision-Signature"
EVENT_HEADER = "X-Supervision-Event"
DELIVERY_HEADER = "X-Supervision-Delivery"
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=10)
CLAIM_LEASE = timedelta(seconds=60)


def notify_agent(
    *, session: Session, agent_id: int, event: str, payload: dict[str, Any], now: datetime
) -> None:
    """Queue a notification if the agent registered a callback URL."""
    agent = session.get(Agent, agent_id)  # identity map: repeated calls cost no query
    if agent is None or not agent.callback_url:
        return
    session.add(
        Notification(
            agent_id=agent_id,
            url=agent.callback_url,
            event=event,
            payload={"event": event, "agent_id": agent_id, "at": now.isoformat(), **payload},
            created_at=now,
            next_attempt_at=now,
        )
    )


@dataclass(frozen=True)
class Delivery:
    id: int
    url: str
    body: bytes
    headers: dict[str, str]
    attempts: int
    claimed_until: datetime  # the claim: the row's next_attempt_at while this worker holds it


def claim_due(*, session: Session, now: datetime, limit: int = 50) -> list[Delivery]:
    """Take due notifications for delivery; a claim pushes the next attempt out so that
    another process (or a later tick) does not send the same one meanwhile."""
    due = session.exec(
        select(Notification, Agent.webhook_secret)
        .join(Agent, col(Agent.id) == Notification.agent_id)
        .where(
            col(Notification.delivered_at).is_(None),
            col(Notification.failed_at).is_(None),
            Notification.next_attempt_at <= now,
        )
        .order_by(col(Notification.id))
        .limit(limit)
    ).all()
    claimed = []
    for notification, secret in due:
        attempt = notification.attempts + 1  # read before the update refreshes the row
        won = session.exec(  # type: ignore[call-overload]
            update(Notification)
            .where(
                col(Notification.id) == notification.id,
                Notification.next_attempt_at == notification.next_attempt_at,
                Notification.attempts == notification.attempts,
            )
            .values(next_attempt_at=now + CLAIM_LEASE, attempts=attempt)
        ).rowcount
        if not won:
            continue
        body = json.dumps(notification.payload, sort_keys=True, separators=(",", ":")).encode()
        claimed.append(
            Delivery(
                id=notification.id or 0,
                url=notification.url,
                body=body,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: "sha256=" + sign_body(secret, body),
                    EVENT_HEADER: notification.event,
                    DELIVERY_HEADER: str(notification.id),
                },
                attempts=attempt,
                claimed_until=now + CLAIM_LEASE,
            )
        )
    return claimed


def record_result(
    *, session: Session, delivery: Delivery, now: datetime, status: int | None, error: str | None
) -> bool:
    """Delivered, or failed with a retry after backoff (failed for good after MAX_ATTEMPTS);
    only while this worker's claim holds. False when it was taken over meanwhile (the
    other worker's result counts)."""
    claim_held = (
        col(Notification.id) == delivery.id,
        Notification.attempts == delivery.attempts,
        Notification.next_attempt_at == delivery.claimed_until,
    )
    if status is not None and 200 <= status < 300:
        values: dict[str, Any] = {"delivered_at": now, "last_error": None}
    else:
        values = {"last_error": (error or f"HTTP {status}")[:500]}
        if delivery.attempts >= MAX_ATTEMPTS:
            values["failed_at"] = now
        else:
            values["next_attempt_at"] = now + backoff_after(delivery.attempts)
    return bool(
        session.exec(update(Notification).where(*claim_held).values(**values)).rowcount  # type: ignore[call-overload]
    )


def backoff_after(attempts: int) -> timedelta:
    return BACKOFF_BASE * (3 ** (attempts - 1))
