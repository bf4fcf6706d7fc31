"""One new row, written with a single Core `INSERT … RETURNING id`: the agents' hot path
writes rows nobody reads back in the same transaction, and building an ORM object and
flushing it cost several times the INSERT itself (docs/benchmarks.md, #19).

Columns left out get the model's own defaults (its `Field(default=…)` and
`default_factory`), so a row written here reads back as one written through the ORM.
In the session's transaction, and announced like an ORM insert (a watched table's kind and
"<kind>:<id>", services.changes).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import Insert, insert
from sqlmodel import Session, SQLModel

from services.changes import note_inserted


@cache
def _defaults(model: type[SQLModel]) -> tuple[dict[str, Any], dict[str, Callable[[], Any]]]:
    fixed: dict[str, Any] = {}
    made: dict[str, Callable[[], Any]] = {}
    for name, field in model.model_fields.items():
        if name == "id":
            continue
        if field.default_factory is not None:
            made[name] = field.default_factory  # type: ignore[assignment]
        elif field.default is not PydanticUndefined:
            fixed[name] = field.default
    return fixed, made


@cache
def _insert_returning_id(model: type[SQLModel]) -> Insert:
    table = model.__table__  # type: ignore[attr-defined]
    return insert(table).returning(table.c.id)


def insert_row(session: Session, model: type[SQLModel], **values: Any) -> int:
    """Insert one row of `model` with `values` (the rest defaulted as the model says); its id."""
    fixed, made = _defaults(model)
    row = {**fixed, **{name: factory() for name, factory in made.items()}, **values}
    # On the session's connection: the ORM's execute (and its autoflush) cost as much again.
    row_id = session.connection().execute(_insert_returning_id(model), row).scalar_one()
    note_inserted(session, model.__tablename__, row_id)  # type: ignore[arg-type]
    return row_id
