"""The supervised queue, for supervisors (their own entries) and admins (all)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services import queue
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.dispatch import dispatch_all_available, dispatch_supervisor_work
from services.errors import NotFound, PermissionDenied
from services.policy import queue_policy
from services.queue import Dispatched, QueueStats
from services.views import QueueEntryRead
from supervision_app.api.auth import AdminDep, UserDep
from supervision_app.api.schemas import StrictBody

router = APIRouter(prefix="/api/supervised-queue", tags=["supervised queue"])


class QueuePage(BaseModel):
    items: list[QueueEntryRead]
    limit: int
    offset: int


class PriorityBody(StrictBody):
    priority: int = Field(ge=-1000, le=1000)


class ProcessResult(BaseModel):
    dispatched: list[Dispatched]


class ExpireResult(BaseModel):
    expired: int


@router.get("/users/{user_id}")
def list_user_entries(
    user_id: int,
    caller: UserDep,
    status: str | None = Query(default=None, max_length=16),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0),
) -> QueuePage:
    if user_id != caller.id and not caller.is_admin:
        raise NotFound("no such user")
    with read_scope() as session:
        items = queue.list_entries(
            session=session, supervisor_id=user_id, status=status, limit=limit, offset=offset
        )
    return QueuePage(items=items, limit=limit, offset=offset)


@router.get("/stats")
def stats(caller: UserDep) -> QueueStats:
    """Counts by status, oldest pending age and mean wait; yours, or everyone's for admins."""
    with read_scope() as session:
        return queue.queue_stats(
            session=session, supervisor_id=None if caller.is_admin else caller.id, now=utcnow()
        )


@router.post("/process")
def process(caller: UserDep) -> ProcessResult:
    """Dispatch now: the caller's pending entries (if available), or everyone's for admins."""
    if caller.role == "viewer":
        raise PermissionDenied("viewers cannot dispatch work")
    dispatched = (
        dispatch_all_available() if caller.is_admin else dispatch_supervisor_work(caller.id)
    )
    return ProcessResult(dispatched=dispatched)


@router.post("/mark-expired")
def mark_expired(caller: AdminDep) -> ExpireResult:
    with session_scope() as session:
        expired = queue.mark_expired(session=session, now=utcnow())
    return ExpireResult(expired=len(expired))


@router.get("/{queue_id}")
def get_entry(queue_id: int, caller: UserDep) -> QueueEntryRead:
    with read_scope() as session:
        return queue.get_entry(session=session, entry_id=queue_id, caller=caller)


@router.delete("/{queue_id}")
def cancel(queue_id: int, caller: UserDep) -> QueueEntryRead:
    with session_scope() as session:
        return queue.cancel_entry(session=session, entry_id=queue_id, caller=caller, now=utcnow())


@router.patch("/{queue_id}/priority")
def reprioritise(queue_id: int, body: PriorityBody, caller: UserDep) -> QueueEntryRead:
    with session_scope() as session:
        return queue.set_priority(
            session=session, entry_id=queue_id, priority=body.priority, caller=caller, now=utcnow()
        )


@router.post("/{queue_id}/run-now")
def run_now(queue_id: int, caller: UserDep) -> Dispatched:
    with session_scope() as session:
        dispatched = queue.run_entry_now(
            session=session, entry_id=queue_id, caller=caller, now=utcnow(), policy=queue_policy()
        )
    return dispatched
