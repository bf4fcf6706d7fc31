"""One new row, written with a single Core `INSERT … RETURNING id`: the agents' hot path
writes rows nobody reads back in the same transaction, and building an ORM object and
flushing it cost several times the INSERT itself (docs/benchmarks.md, #19).

Columns left out get the model's own defaults (its `Field(default=…)` and
`default_factory`), so a row written here reads back as one written through the ORM.
In the session's transaction, and announced like an ORM insert (a watched table's kind, and
"<kind>:<id>" for a single row, services.changes).
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
def _insert(model: type[SQLModel]) -> Insert:
    return insert(model.__table__)  # type: ignore[attr-defined]


@cache
def _insert_returning_id(model: type[SQLModel]) -> Insert:
    return _insert(model).returning(model.__table__.c.id)  # type: ignore[attr-defined]


def _with_defaults(model: type[SQLModel], values: dict[str, Any]) -> dict[str, Any]:
    fixed, made = _defaults(model)
    return {**fixed, **{name: factory() for name, factory in made.items()}, **values}


def insert_row(session: Session, model: type[SQLModel], **values: Any) -> int:
    """Insert one row of `model` with `values` (the rest defaulted as the model says); its id."""
    row = _with_defaults(model, values)
    # On the session's connection: the ORM's execute (and its autoflush) cost as much again.
    row_id = session.connection().execute(_insert_returning_id(model), row).scalar_one()
    note_inserted(session, model.__tablename__, row_id)  # type: ignore[arg-type]
    return row_id


def insert_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert rows of one table with a single executemany, in list order (ids ascend along
    it), each defaulted as the model says. For rows nobody needs the ids of (a report's
    lines); a watched table's kind is noted."""
    if not rows:
        return  # an INSERT with no rows would write one row of defaults
    session.connection().execute(_insert(model), [_with_defaults(model, row) for row in rows])
    note_inserted(session, model.__tablename__, None)  # type: ignore[arg-type]
