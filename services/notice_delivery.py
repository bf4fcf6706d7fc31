"""Sending notices: claim → compose (links made, in a short transaction) → send with no
transaction open → record. Chat webhooks go out like agents' callbacks (services/
callback_delivery.py: the address checked again, one deadline for lookup and answer); e-mail
over SMTP with the channel's host, port and TLS, the password from SMTP_PASSWORD."""

from __future__ import annotations

import logging
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from services import notices
from services.callback_delivery import SEND_TIMEOUT_S, send_batch
from services.clock import utcnow
from services.config import get_settings
from services.db import session_scope
from services.notices import Message
from services.notifications import Delivery
from services.policy import callback_targets

logger = logging.getLogger(__name__)
EMAIL_WORKERS = 8


def send_email(message: Message, password: str, timeout_s: float = SEND_TIMEOUT_S) -> str | None:
    """One mail through the channel's SMTP server; None when it was accepted, else why not
    (never the password)."""
    host = str(message.settings.get("host", ""))
    port = int(message.settings.get("port", 587))  # type: ignore[call-overload]
    tls = str(message.settings.get("tls", "starttls"))
    username = str(message.settings.get("username", "") or "")
    try:
        if tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout_s, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, port, timeout=timeout_s)
        with client:
            if tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if username:
                client.login(username, password)
            client.send_message(message.email())
    except Exception as error:  # noqa: BLE001 - any failure is this notice's, retried later
        return f"{type(error).__name__}: {str(error)[:300]}"
    return None


def _send_webhooks(messages: list[Message], timeout_s: float) -> dict[int, str | None]:
    deliveries = [
        Delivery(
            id=m.notice_id,
            url=m.target,
            body=m.webhook_body(),
            headers={"Content-Type": "application/json"},
            attempts=0,
            claimed_until=utcnow(),
        )
        for m in messages
    ]
    try:
        results = send_batch(deliveries, timeout_s, callback_targets())
    except Exception as error:  # noqa: BLE001 - recorded against each, retried later
        return {d.id: f"{type(error).__name__}: {error}"[:300] for d in deliveries}
    return {
        delivery.id: error
        if status is None
        else (None if 200 <= status < 300 else f"HTTP {status}")
        for delivery, (status, error) in zip(deliveries, results, strict=True)
    }


def deliver_due(*, now: datetime | None = None, timeout_s: float = SEND_TIMEOUT_S) -> int:
    """Send the notices that are due; the number sent or tried."""
    settings = get_settings()
    with session_scope() as session:
        claimed = notices.claim_due(session=session, now=now or utcnow())
    messages = []
    for notice_id in claimed:
        try:
            with session_scope() as session:
                message = notices.compose(
                    session=session,
                    notice_id=notice_id,
                    now=now or utcnow(),
                    site_url=settings.resolved_site_url,
                    sign_in_for=settings.decision_links_sign_in,
                )
        except Exception:  # noqa: BLE001 - retried once its claim lapses
            logger.exception("notice %d could not be composed", notice_id)
            continue
        if message is not None:
            messages.append(message)
    webhooks = [m for m in messages if m.kind == "webhook"]
    emails = [m for m in messages if m.kind == "email"]
    sent = 0
    try:
        sent += _record(webhooks, _send_webhooks(webhooks, timeout_s) if webhooks else {})
    finally:  # whatever happened to the chat messages, the mails go and are recorded
        # At once, each cut at `timeout_s` per step: a batch ends well inside the claim.
        with ThreadPoolExecutor(max_workers=EMAIL_WORKERS, thread_name_prefix="smtp") as pool:
            futures = {
                m.notice_id: pool.submit(send_email, m, settings.smtp_password, timeout_s)
                for m in emails
            }
        sent += _record(emails, {nid: future.result() for nid, future in futures.items()})
    return sent


def _record(messages: list[Message], results: dict[int, str | None]) -> int:
    """Record each result while its claim holds (a claim that lapsed is another's now)."""
    for message in messages:
        error = results.get(message.notice_id, "not sent: the batch stopped")
        if error:
            logger.warning("notice %d not sent: %s", message.notice_id, error)
        with session_scope() as session:
            notices.record_result(
                session=session,
                notice_id=message.notice_id,
                now=utcnow(),
                error=error,
                claimed_until=message.claimed_until,
            )
    return len(messages)
