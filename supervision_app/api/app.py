"""Builds the FastAPI app that Reflex mounts itself inside; our /api routes win."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from services.actors import current_request_id
from services.config import get_settings
from supervision_app.api import (
    routes_agent_api,
    routes_agents,
    routes_presence,
    routes_proposals,
    routes_queue,
    routes_supervision,
    routes_system,
    routes_users,
)
from supervision_app.api.errors import install_error_handlers


def build_api() -> FastAPI:
    api = FastAPI(
        title="Agent supervision API",
        version="1.0.0",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    install_error_handlers(api)
    max_bytes = get_settings().max_payload_bytes

    @api.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_bytes:
            return JSONResponse(
                {"detail": f"body: request body larger than {max_bytes} bytes", "field": "body"},
                status_code=413,
            )
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = current_request_id.set(request_id[:64])
        try:
            response = await call_next(request)
        finally:
            current_request_id.reset(token)
        response.headers["X-Request-ID"] = request_id[:64]
        return response

    api.include_router(routes_system.router)
    api.include_router(routes_users.router)
    api.include_router(routes_agents.router)
    api.include_router(routes_agent_api.router)
    api.include_router(routes_presence.router)
    api.include_router(routes_queue.router)
    api.include_router(routes_proposals.router)
    api.include_router(routes_supervision.router)
    return api
