"""The "Run now" button of queued work: only a supervisor who is there can start it (they
watch the run), so while they appear offline it is disabled and says why."""

from __future__ import annotations

import reflex as rx

OFFLINE = "You appear offline: go online to run queued work now (you watch it as it runs)."


def run_now_button(available: rx.Var[bool], on_click: rx.EventHandler) -> rx.Component:
    # A disabled button takes no pointer or focus: the span around it shows the reason.
    return rx.tooltip(
        rx.el.span(
            rx.button(
                "Run now", size="1", disabled=~available, on_click=on_click, white_space="nowrap"
            ),
            tab_index=rx.cond(available, -1, 0),
        ),
        content=rx.cond(available, "Start it now; you watch it as it runs", OFFLINE),
    )
