"""Liveness for every run: a run nobody hears from is stale, then lost, never "running" forever.

Any report or control poll of the agent renews a run (`executions.seen`); before the agent
picks a run up, listing it in `GET /agents/me/work` counts too. The pass below ends runs
silent past the lost threshold, so an agent reporting at the
same moment, or another app process running the same pass, cannot be overruled: each run is
read again under its row lock before it is ended, and only one writer wins. The agent learns it must
stop through a `terminate` control if it ever comes back.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from models import Execution
from models.enums import ACTIVE_EXECUTION_STATUSES
from services.actors import Actor
from services.audit import record_audit
from services.executions import LivenessPolicy, lock_run, lose_locked

_ACTIVE = [status.value for status in ACTIVE_EXECUTION_STATUSES]
LIVENESS = Actor.system("liveness")


def silent_runs(
    *, session: Session, now: datetime, policy: LivenessPolicy, limit: int = 500
) -> list[int]:
    """Active runs silent past the lost threshold, the longest silent first (a read)."""
    return list(
        session.exec(
            select(Execution.id)
            .where(
                col(Execution.status).in_(_ACTIVE),
                col(Execution.last_seen_at) < now - policy.lost_after,
            )
            .order_by(col(Execution.last_seen_at))
            .limit(limit)
        ).all()
    )


def end_if_lost(
    *, session: Session, execution_id: int, now: datetime, policy: LivenessPolicy
) -> bool:
    """End this run if it is still silent past the lost threshold; True when it was ended."""
    execution = lock_run(session, execution_id)
    # Read again under the lock: an agent that reported meanwhile, or another process that
    # ended the run first, wins.
    if execution.status not in ACTIVE_EXECUTION_STATUSES or not (
        execution.last_seen_at is not None and execution.last_seen_at < now - policy.lost_after
    ):
        return False
    silent_s = int(policy.lost_after.total_seconds())
    picked_up = execution.picked_up_at is not None
    why = (
        f"lost: nothing heard from the agent for {silent_s} s"
        if picked_up
        else f"lost: the agent did not pick the run up within {silent_s} s"
    )
    lose_locked(session, execution, why=why, actor=LIVENESS, now=now)
    record_audit(
        session=session,
        actor=LIVENESS,
        action="execution.lost",
        object_type="execution",
        object_id=execution_id,
        now=now,
        after={"status": "lost", "picked_up": picked_up, "error": why},
    )
    return True


def end_lost_runs(
    *, session: Session, now: datetime, policy: LivenessPolicy, limit: int = 500
) -> list[int]:
    """End the runs silent past the lost threshold, in this one transaction; their ids."""
    return [
        execution_id
        for execution_id in silent_runs(session=session, now=now, policy=policy, limit=limit)
        if end_if_lost(session=session, execution_id=execution_id, now=now, policy=policy)
    ]
