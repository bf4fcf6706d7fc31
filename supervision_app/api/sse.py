"""Server-Sent Events of an execution's events, resumable with Last-Event-ID.

A custom ASGI response rather than StreamingResponse: every send has a timeout, so a client
that stops reading is dropped without holding anything up, and a disconnect ends the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from models.enums import FINISHED_EXECUTION_STATUSES
from services import execution_events
from services.db import read_scope
from services.execution_events import EventRead
from services.execution_reads import get_execution
from supervision_app.api.live import hub

logger = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
# A stream asks again this often whether its caller may still watch (signed out, key
# rotated, deactivated or disabled: the stream ends with `event: error`).
RECHECK_S = 5.0
StillAllowed = Callable[[], Awaitable[bool]]
SEND_TIMEOUT_S = 10.0
BATCH = 500

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events; each `id` is the event's sequence number",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def format_event(event: EventRead) -> bytes:
    data = json.dumps(event.model_dump(mode="json"), separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n".encode()


def _fetch(execution_id: int, after: int) -> tuple[list[EventRead], bool, int]:
    with read_scope() as session:
        events = execution_events.list_events(
            session=session, execution_id=execution_id, after_seq=after, limit=BATCH
        )
        execution = get_execution(session=session, execution_id=execution_id)
    finished = execution.status in FINISHED_EXECUTION_STATUSES
    return events, finished, execution.last_seq


FEED_RETAIN = 2000


class Feed:
    """One execution's recent events, shared by all its streams in this process.

    Without it, every stream ran its own query per event: with 100 watchers, 100 queries.
    """

    def __init__(self) -> None:
        self.events: list[EventRead] = []
        self.upto = 0
        self.finished = False
        self.version = -1
        self.fetched_at = 0.0
        self.lock = asyncio.Lock()
        self.subscribers = 0

    async def after(self, execution_id: int, after: int) -> tuple[list[EventRead], bool]:
        async with self.lock:
            stale = (
                hub.versions[execution_id] != self.version
                or time.monotonic() - self.fetched_at > 1.0
            )
            if stale:
                self.version = hub.versions[execution_id]
                self.fetched_at = time.monotonic()
                new, self.finished, _ = await asyncio.to_thread(_fetch, execution_id, self.upto)
                if new:
                    self.events.extend(new)
                    self.upto = new[-1].seq
                    del self.events[:-FEED_RETAIN]
                if len(new) == BATCH:  # more to read: not caught up, so not finished either
                    self.version, self.finished = -1, False
        first = self.events[0].seq if self.events else self.upto + 1
        if after + 1 >= first:
            return [e for e in self.events if e.seq > after][:BATCH], self.finished
        events, finished, _ = await asyncio.to_thread(
            _fetch, execution_id, after
        )  # older than retained
        return events, finished


_feeds: dict[int, Feed] = {}


def _subscribe(execution_id: int) -> Feed:
    feed = _feeds.get(execution_id)
    if feed is None:
        feed = _feeds[execution_id] = Feed()
    feed.subscribers += 1
    return feed


def _unsubscribe(execution_id: int, feed: Feed) -> None:
    feed.subscribers -= 1
    if feed.subscribers <= 0 and _feeds.get(execution_id) is feed:
        del _feeds[execution_id]


def open_feeds() -> int:
    return len(_feeds)


class EventStream(Response):
    """A response streaming one execution from `after_seq` until the run has ended."""

    media_type = "text/event-stream"

    def __init__(self, execution_id: int, after_seq: int, still_allowed: StillAllowed) -> None:
        self.execution_id = execution_id
        self.after_seq = after_seq
        self.still_allowed = still_allowed
        self.status_code = 200
        self.background = None
        self.raw_headers = []

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        disconnected = asyncio.Event()

        async def watch_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    return

        watcher = asyncio.create_task(watch_disconnect())
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            await self._stream(send, disconnected)
        except (TimeoutError, OSError):
            logger.info("dropped a slow or closed SSE client of execution %s", self.execution_id)
        finally:
            watcher.cancel()

    async def _write(self, send: Send, chunk: bytes) -> None:
        await asyncio.wait_for(
            send({"type": "http.response.body", "body": chunk, "more_body": True}), SEND_TIMEOUT_S
        )

    async def _stream(self, send: Send, disconnected: asyncio.Event) -> None:
        after = self.after_seq
        await self._write(send, b"retry: 2000\n\n")
        _, _, last_seq = await asyncio.to_thread(_fetch, self.execution_id, after)
        if after > last_seq:
            # The client claims to have seen more than exists: say so, and start again from 0.
            notice = {"requested": after, "available_from": 1, "last": last_seq}
            await self._write(send, f"event: reset\ndata: {json.dumps(notice)}\n\n".encode())
            after = 0
        feed = _subscribe(self.execution_id)
        try:
            await self._follow(send, disconnected, feed, after)
        finally:
            _unsubscribe(self.execution_id, feed)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _follow(
        self, send: Send, disconnected: asyncio.Event, feed: Feed, after: int
    ) -> None:
        idle, checked_at = 0.0, time.monotonic()
        while not disconnected.is_set():
            if time.monotonic() - checked_at >= RECHECK_S:
                if not await self.still_allowed():
                    detail = {"detail": "signed out or no longer allowed to watch this run"}
                    await self._write(
                        send, f"event: error\ndata: {json.dumps(detail)}\n\n".encode()
                    )
                    break
                checked_at = time.monotonic()
            events, finished = await feed.after(self.execution_id, after)
            for event in events:
                await self._write(send, format_event(event))
                after = event.seq
            if events:
                idle = 0.0
                if len(events) == BATCH:
                    continue
            if finished and not events:
                await self._write(send, b"event: end\ndata: {}\n\n")
                break
            started = time.monotonic()
            woke = await hub.wait(self.execution_id, KEEPALIVE_S)  # at most a second or so
            if not woke:
                idle += time.monotonic() - started
                if idle >= KEEPALIVE_S:
                    await self._write(send, b": keep-alive\n\n")
                    idle = 0.0
