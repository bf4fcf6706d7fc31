"""Health and the audit trail."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from scheduler.runner import status as scheduler_status
from services import audit as audit_service
from services.audit import AuditEventRead
from services.db import read_scope
from services.errors import InvalidInput
from services.maintenance import database_is_reachable
from supervision_app.api.auth import AdminDep, is_admin_request
from supervision_app.api.loop_monitor import loop_monitor

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Database and scheduler status; 503 when the database cannot be reached. The jobs'
    last runs and errors (which may quote internals) only for a signed-in admin."""
    admin = await is_admin_request(request)
    return await asyncio.to_thread(_health, admin)


def _health(admin: bool) -> JSONResponse:
    try:
        with read_scope() as session:
            database_ok = database_is_reachable(session=session)
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        database_ok = False
    body: dict[str, Any] = {
        "status": "ok" if database_ok else "degraded",
        "database": "ok" if database_ok else "unreachable",
        "event_loop_max_stall_ms": round(loop_monitor.max_stall_ms, 2),
        "scheduler": {"running": scheduler_status.running},
    }
    if admin:
        body["scheduler"]["last_run"] = {
            k: v.isoformat() for k, v in scheduler_status.last_run.items()
        }
        body["scheduler"]["errors"] = dict(scheduler_status.last_error)
    return JSONResponse(body, status_code=200 if database_ok else 503)


@router.get("/audit")
def list_audit(
    _admin: AdminDep,
    actor_type: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = Query(default=None, max_length=120, description="a name, any part"),
    since: Annotated[datetime | None, Query(description="from this time (with a zone)")] = None,
    until: Annotated[datetime | None, Query(description="before this time")] = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEventRead]:
    """Newest first, filtered by who (type or name), what, which object and when."""
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and bound.tzinfo is None:
            raise InvalidInput("give the time with a zone, e.g. 2026-12-01T00:00:00Z", field=name)
        if bound is not None and not 2 <= bound.year <= 9998:  # stays a time once in UTC
            raise InvalidInput("give a time between the years 2 and 9998", field=name)
    with read_scope() as session:
        return audit_service.list_audit_events(
            session=session,
            actor_type=actor_type,
            action=action,
            object_type=object_type,
            object_id=object_id,
            actor=actor,
            since=since,
            until=until,
            limit=max(1, min(limit, 1000)),
            offset=max(0, offset),
        )


@router.get(
    "/audit/export",
    responses={
        200: {
            "description": "the trail, as a download",
            "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def export_audit(
    _admin: AdminDep,
    format: str = Query(default="json", pattern="^(json|csv)$"),
    actor_type: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
) -> Response:
    """The filtered trail as a CSV or JSON download (up to 100,000 events)."""
    with read_scope() as session:
        events = audit_service.list_audit_events(
            session=session,
            actor_type=actor_type,
            action=action,
            object_type=object_type,
            object_id=object_id,
            limit=100_000,
        )
    if format == "csv":
        body, media = audit_service.export_audit_csv(events), "text/csv"
    else:
        body, media = audit_service.export_audit_json(events), "application/json"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit.{format}"'},
    )


@router.get("/audit/head")
def audit_head(_admin: AdminDep) -> audit_service.ChainHead:
    """The chain's current head: keep it to prove later that nothing before it changed."""
    with read_scope() as session:
        return audit_service.chain_head(session=session)


@router.get("/audit/verify")
def verify_audit(_admin: AdminDep) -> dict[str, Any]:
    """Recompute the hash chain and report whether it is intact, and where it breaks."""
    with read_scope() as session:
        result = audit_service.verify_audit_chain(session=session)
    return {
        "intact": result.intact,
        "checked": result.checked,
        "head_hash": result.head_hash,
        "broken_at_id": result.broken_at_id,
        "problem": result.problem,
    }
