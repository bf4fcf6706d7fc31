"""The stack's own ceiling, for bench/throughput.py: a minimal FastAPI + SQLModel app whose
action route does one INSERT and one COMMIT through the app's own engine (same SQLite
PRAGMAs, same writer lock, same `session_scope`), served by granian as the app is.

    granian --interface asgi --factory bench.baseline_app:build_baseline
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Header
from sqlmodel import Field, SQLModel

from services.db import get_engine, session_scope


class BaselineRow(SQLModel, table=True):
    __tablename__ = "baseline_rows"

    id: int | None = Field(default=None, primary_key=True)
    agent: str
    action: str
    created_at: datetime


def build_baseline() -> FastAPI:
    SQLModel.metadata.create_all(get_engine(), tables=[BaselineRow.__table__])  # type: ignore[attr-defined]
    api = FastAPI()

    @api.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    def insert(agent: str, action: str) -> int:
        with session_scope() as session:
            row = BaselineRow(agent=agent, action=action, created_at=datetime.now(UTC))
            session.add(row)
            session.flush()
            return row.id or 0

    @api.post("/api/v1/actions")
    def act(body: dict[str, Any], authorization: str = Header(default="")) -> dict[str, Any]:
        row = insert(authorization[-8:], str(body.get("action", "")))
        return {"decision": "approved_to_run", "execution_id": row}

    @api.post("/api/v1/executions/{execution_id}/events")
    def events(execution_id: int, body: dict[str, Any]) -> dict[str, Any]:
        insert(str(execution_id), "event")
        return {"accepted": len(body.get("events", []))}

    return api
