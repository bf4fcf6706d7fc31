"""A fast lane for the most frequent request: a heartbeat that changes nothing but a time.

Every open dashboard tab sends one; most come from a tab the server already knows, of a user
who is online, and only move a timestamp in memory (services/heartbeats.py). Going through
FastAPI's routing, dependencies and validation cost such a request several times the work
itself, and the queueing that caused showed as the heartbeat benchmark's tail.

This ASGI middleware answers exactly those requests and nothing else: a small JSON body that
is exactly `{"session_token": <8 to 100 characters>}`, a bearer sign-in already resolved
(services/login_cache.py) for the user in the path, and a beat the buffer can take. Anything
else — a first beat, a state change, an unknown or foreign tab, a bad body, another caller —
goes on to the FastAPI route with its body intact, which gives the answers and errors it
always gave. It sits inside RequestContext, so origin and size checks, request ids and
Server-Timing apply to it too.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.clock import utcnow
from services.heartbeats import heartbeat_buffer
from services.login_cache import login_cache
from services.policy import presence_rules
from services.presence import PresenceRead
from services.security import token_hash
from supervision_app.api.auth import bearer_from_header
from supervision_app.api.routes_presence import HeartbeatBody

HEARTBEAT_PATH = re.compile(r"/api/users/([1-9][0-9]{0,17})/activity/heartbeat")
MAX_BODY_BYTES = 512  # {"session_token": "..."} with the longest token fits easily


class HeartbeatFastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _heartbeat_match(scope)
        if match is None:
            await self.app(scope, receive, send)
            return
        user_id, headers = match
        body = await _read_body(receive)
        if body is None:  # the client went away
            return
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        answer = _answer(user_id, bearer_from_header(authorization), body)
        if answer is None:
            await self.app(scope, _replay(body), send)
            return
        payload = answer.model_dump_json().encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _heartbeat_match(scope: Scope) -> tuple[int, dict[bytes, bytes]] | None:
    """The user id in the path and the headers of a heartbeat POST with a small JSON body,
    or None (the request is not ours). Every request passes here: the headers are read only
    once the path is a heartbeat's."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    match = HEARTBEAT_PATH.fullmatch(scope["path"])
    if match is None:
        return None
    headers = dict(scope["headers"])
    length = headers.get(b"content-length", b"")
    content_type = headers.get(b"content-type", b"").partition(b";")[0].strip().lower()
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        return None
    if content_type != b"application/json":
        return None
    return int(match.group(1)), headers


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A `receive` that hands the route the body this lane already read."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _answer(user_id: int, sign_in: str, body: bytes) -> PresenceRead | None:
    """The heartbeat's answer when it only moves a timestamp, else None."""
    session_token = _session_token(body)
    if session_token is None or not sign_in:
        return None
    user = login_cache.get(token_hash(sign_in))
    if user is None or user.id != user_id:
        return None
    return heartbeat_buffer.try_record(user_id, session_token, utcnow(), presence_rules())


def _session_token(body: bytes) -> str | None:
    """The route's own body model decides, so the lane accepts nothing the route would refuse."""
    try:
        return HeartbeatBody.model_validate_json(body).session_token
    except ValidationError:
        return None
