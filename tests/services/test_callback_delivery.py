"""Callbacks are claimed, sent with no transaction open (all of a batch at once, each cut at a
timeout), and recorded only while the claim holds: never sent twice by two workers."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import col, select

from models import Notification
from services import callback_delivery, notifications
from services.clock import utcnow
from services.db import read_scope, session_scope
from tests.factories import make_agent

pytestmark = pytest.mark.usefixtures("database", "callback_receivers_on_this_machine")


class Receiver:
    """An agent's callback server whose answer each test decides (`answer` runs per request)."""

    def __init__(self, answer):
        self.received: Counter[str] = Counter()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received[self.headers["X-Supervision-Delivery"]] += 1
                status = answer()
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def queue_notifications(url: str, count: int) -> list[int]:
    now = utcnow()
    agent = make_agent(now, callback_url=url)
    with session_scope() as session:
        for number in range(count):
            notifications.notify_agent(
                session=session,
                agent_id=agent.agent.id,
                event="proposal.approved",
                payload={"n": number},
                now=now,
            )
    with read_scope() as session:
        return list(session.exec(select(Notification.id).order_by(col(Notification.id))).all())


def rows() -> list[Notification]:
    with read_scope() as session:
        return list(session.exec(select(Notification).order_by(col(Notification.id))).all())


def test_a_batch_is_sent_at_once_not_one_after_another():
    # Each request is answered only when all four have arrived: sent one after another, the
    # first would wait out the barrier and fail.
    barrier = threading.Barrier(4, timeout=5)

    def answer():
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return 503
        return 204

    receiver = Receiver(answer)
    try:
        queue_notifications(receiver.url, 4)
        assert callback_delivery.deliver_due(timeout_s=10) == 4
    finally:
        receiver.close()
    assert all(row.delivered_at is not None for row in rows())
    assert sorted(receiver.received.values()) == [1, 1, 1, 1]


def test_a_receiver_that_never_answers_is_cut_at_the_timeout_and_retried_later():
    hang = threading.Event()
    receiver = Receiver(lambda: (hang.wait(30), 204)[1])
    try:
        queue_notifications(receiver.url, 1)
        assert callback_delivery.deliver_due(timeout_s=0.5) == 1
    finally:
        hang.set()
        receiver.close()
    [row] = rows()
    assert row.delivered_at is None and row.failed_at is None
    assert row.last_error == "no answer within 0.5 s" and row.attempts == 1
    assert row.next_attempt_at > utcnow()  # retried after backoff, not at once


def test_two_workers_never_send_one_notification_twice():
    arrived, release = threading.Event(), threading.Event()

    def answer():
        arrived.set()
        release.wait(30)
        return 204

    receiver = Receiver(answer)
    try:
        queue_notifications(receiver.url, 1)
        first = threading.Thread(target=callback_delivery.deliver_due, kwargs={"timeout_s": 20})
        first.start()
        assert arrived.wait(10)  # the first worker's request is at the receiver, unanswered
        # Another worker (or process) a little later, while the first is still sending:
        assert callback_delivery.deliver_due(now=utcnow() + timedelta(seconds=25)) == 0
        release.set()
        first.join(30)
    finally:
        release.set()
        receiver.close()
    assert list(receiver.received.values()) == [1]
    [row] = rows()
    assert row.delivered_at is not None and row.attempts == 1


def test_a_late_result_after_a_takeover_changes_nothing():
    """A worker that died holding a claim loses it after the lease; if it comes back and
    reports, its result is not recorded over the one who took over."""
    [notification_id] = queue_notifications("http://127.0.0.1:9/hook", 1)
    now = utcnow()
    with session_scope() as session:
        [slow] = notifications.claim_due(session=session, now=now)
    later = now + notifications.CLAIM_LEASE + timedelta(seconds=1)
    with session_scope() as session:
        [taker] = notifications.claim_due(session=session, now=later)
    with session_scope() as session:
        assert notifications.record_result(
            session=session, delivery=taker, now=later, status=204, error=None
        )
    with session_scope() as session:
        assert not notifications.record_result(
            session=session, delivery=slow, now=later, status=None, error="timed out"
        )
    [row] = rows()
    assert row.id == notification_id and row.delivered_at is not None and row.last_error is None
