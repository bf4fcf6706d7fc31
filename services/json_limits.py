"""Limits on the JSON values agents (and supervisors) send: how deep and how many values.

The body's size is capped at the edge (MAX_PAYLOAD_BYTES), but a small body can still nest
hundreds of levels deep: stored, it later breaks every screen and list that shows it (the
serialiser gives up at 255 levels). So every free-form JSON field is checked on the way in,
and a value past a limit is refused with the field named; nothing is stored.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator

MAX_DEPTH = 32
MAX_VALUES = 20_000


def check_json_shape(value: Any) -> Any:
    """`value` unchanged when it nests at most MAX_DEPTH levels and holds at most MAX_VALUES
    values; ValueError otherwise (pydantic names the field). Walks without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ValueError(f"holds more than {MAX_VALUES} values")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("holds a number that is not finite (NaN or Infinity)")
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


# A JSON object, or any JSON value, within the limits.
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json_shape)]
JsonValue = Annotated[Any, AfterValidator(check_json_shape)]
