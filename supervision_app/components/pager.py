"""Previous / page number / Next under a paged table."""

from __future__ import annotations

from typing import Any

import reflex as rx


def pager(page: Any, has_next_page: Any, on_previous: Any, on_next: Any) -> rx.Component:
    """`page` counts from 0; each button is disabled where there is nowhere to go."""
    return rx.hstack(
        rx.button("Previous", size="1", variant="soft", on_click=on_previous, disabled=page == 0),
        rx.text("Page ", page + 1, size="2"),
        rx.button("Next", size="1", variant="soft", on_click=on_next, disabled=~has_next_page),
        align="center",
    )
