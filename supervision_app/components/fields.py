"""Form controls that screen readers can name."""

from __future__ import annotations

from typing import Any

import reflex as rx


def select_field(
    options: list[str] | rx.Var, *, label: str, value: rx.Var | str, on_change: Any, **props: Any
) -> rx.Component:
    """A select named `label`. `rx.select(…, aria_label=…)` puts the name on the root, which
    renders nothing; the button a screen reader reaches stays unnamed. This puts it on the
    button (`props` go to the button too: size, id, placeholder, width)."""
    size = props.pop("size", "2")
    if isinstance(options, rx.Var):
        items: Any = rx.foreach(options, lambda option: rx.select.item(option, value=option))
    else:
        items = [rx.select.item(option, value=option) for option in options]
    return rx.select.root(
        rx.select.trigger(aria_label=label, **props),
        rx.select.content(items),
        value=value,
        on_change=on_change,
        size=size,
    )
