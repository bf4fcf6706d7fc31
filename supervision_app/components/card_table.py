"""Tables that become cards on narrow screens: below 1024 px (phones, and windows where the
sidebar leaves little room) each row is a card and each cell shows its column's name before
its value (assets/accessible.css), so nothing is pushed off screen."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_components_radix.themes.components.table import TableCell

CARD_TABLE = "card-table"  # the class assets/accessible.css turns into cards on phones


def card_table(*children: rx.Component, **props: Any) -> rx.Component:
    """`rx.table.root` whose rows read as cards on a phone (label each row with `labelled`)."""
    props["class_name"] = f"{CARD_TABLE} {props.get('class_name', '')}".strip()
    return rx.table.root(*children, **props)


def labelled(row: rx.Component, headers: list[str]) -> rx.Component:
    """Gives each cell of `row` its column's name (shown before the value on phones); cells
    under an empty header (buttons) get none."""
    for cell, header in zip(row.children, headers, strict=False):
        if isinstance(cell, TableCell) and header:
            cell.custom_attrs["data-label"] = header
    return row
