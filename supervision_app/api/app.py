"""Builds the FastAPI app that Reflex mounts itself inside; our /api routes win."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.routing import NoMatchFound
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.actors import current_request_id
from services.config import get_settings
from supervision_app.api import (
    routes_agent_api,
    routes_agents,
    routes_escalation,
    routes_presence,
    routes_proposals,
    routes_queue,
    routes_supervision,
    routes_system,
    routes_users,
)
from supervision_app.api.errors import (
    ERROR_RESPONSES,
    BodyTooLarge,
    body_too_large_response,
    document_error_shape,
    install_error_handlers,
    unexpected_error_response,
)
from supervision_app.api.gc_tuning import tune_garbage_collector
from supervision_app.api.loop_monitor import loop_monitor


class RequestContext:
    """Pure ASGI middleware: refuses other sites' requests and oversize bodies, and tags each
    request with an id.

    (Starlette's BaseHTTPMiddleware costs a task and a stream per request and breaks streaming.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int, allowed_origins: list[str]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.allowed_origins = {origin.encode() for origin in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop_monitor.ensure_running()
        headers = dict(scope.get("headers") or [])
        request_id = _request_id(headers.get(b"x-request-id"))
        started = time.perf_counter()
        received = 0
        response_started = False

        async def counted_receive() -> Message:
            """Bytes are counted as they arrive: reading stops at the limit, before the body
            is parsed or its sender authenticated (routes read the body first)."""
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                # Server-Timing: how long the app took, apart from the network and the client.
                took = f"app;dur={(time.perf_counter() - started) * 1000:.2f}".encode()
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id),
                    (b"server-timing", took),
                    *SECURITY_HEADERS,
                ]
            await send(message)

        origin = headers.get(b"origin")
        if origin is not None and origin not in self.allowed_origins:
            # A page on another site is calling us with someone's credentials: refuse.
            response = JSONResponse(
                {"detail": "cross-site request refused (Origin not allowed)", "field": "Origin"},
                status_code=403,
            )
            await response(scope, receive, send_with_id)
            return
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            response = body_too_large_response(BodyTooLarge(self.max_bytes))
            await response(scope, receive, send_with_id)
            return
        token = current_request_id.set(request_id.decode(errors="replace"))
        try:
            await self.app(scope, counted_receive, send_with_id)
        except BodyTooLarge as error:
            if response_started:
                raise
            await body_too_large_response(error)(scope, receive, send_with_id)
        except Exception as error:  # noqa: BLE001 - every answer is JSON, even a crash's
            if response_started:
                raise
            response = unexpected_error_response(error, request_id.decode(errors="replace"))
            await response(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)


_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")

# On every answer, pages included (this middleware sits in front of Reflex too). The pages
# load nothing from elsewhere; Reflex's own code needs inline scripts and eval (its
# call_script) and emotion's inline styles, so those stay allowed: what the policy buys is
# no framing (clickjacking), no scripts, styles, fonts or connections to other origins, no
# plugins, and no <base> or form redirection.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


def _request_id(given: bytes | None) -> bytes:
    """The caller's X-Request-ID when it is a plain token (letters, digits, . _ -, at most 64),
    else a new one: ids land in logs, the audit and its CSV export, so a caller cannot put a
    formula, a newline or markup there."""
    if given is not None and _SAFE_REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex.encode()


def build_api() -> FastAPI:
    api = FastAPI(
        title="Agent supervision API",
        version="1.0.0",
        openapi_url="/api/openapi.json",
        docs_url=None,  # served below from installed files, not a CDN
        redoc_url=None,
    )
    _serve_docs(api)
    install_error_handlers(api)
    document_error_shape(api)
    tune_garbage_collector()
    max_bytes = get_settings().max_payload_bytes

    api.add_middleware(
        RequestContext, max_bytes=max_bytes, allowed_origins=get_settings().allowed_origins()
    )
    # Routes are matched in order, router by router: the busiest (presence,
    # agents' reports) come first. No two routers share a path.
    api.include_router(routes_presence.router, responses=ERROR_RESPONSES)
    api.include_router(routes_agent_api.router, responses=ERROR_RESPONSES)
    api.include_router(routes_system.router, responses=ERROR_RESPONSES)
    api.include_router(routes_users.router, responses=ERROR_RESPONSES)
    api.include_router(routes_agents.router, responses=ERROR_RESPONSES)
    api.include_router(routes_queue.router, responses=ERROR_RESPONSES)
    api.include_router(routes_proposals.router, responses=ERROR_RESPONSES)
    api.include_router(routes_supervision.router, responses=ERROR_RESPONSES)
    api.include_router(routes_escalation.router, responses=ERROR_RESPONSES)
    _build_route_handlers(api)
    return api


def _serve_docs(api: FastAPI) -> None:
    """Swagger UI at /api/docs from the files fastapi-offline installs: no third-party script
    runs on the app's origin, and the docs work on a machine without internet."""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    assets = Path(fastapi_offline.__file__).parent / "static"
    api.mount("/api/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @api.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="Agent supervision API",
            swagger_js_url="/api/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/api/docs-assets/swagger-ui.css",
            swagger_favicon_url="/api/docs-assets/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from elsewhere
        )


def _build_route_handlers(api: FastAPI) -> None:
    """Have FastAPI build every route's handler now, before the app serves.

    It builds a router's handlers on the first request that reaches it: 30-80 ms on the event
    loop, stalling every request in flight (bench/load.py's worst stalls, all in its first
    second). Looking up a route name that does not exist walks every router, building them.
    """
    with contextlib.suppress(NoMatchFound):
        api.url_path_for("__build_route_handlers__")
