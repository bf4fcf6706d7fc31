"""Risky one-click actions ask first, saying what will happen."""

from __future__ import annotations

import reflex as rx

LEVEL_EFFECTS = {
    "STUDENT": "every request it makes is refused.",
    "INTERN": "each action waits for a person's (or, when nobody is there, the AI "
    "reviewer's) approval.",
    "SUPERVISED": "it acts only while its supervisor watches; otherwise its work waits.",
    "AUTONOMOUS": "it acts without asking; everything it does is audited.",
}


def confirm_button(
    label: str | rx.Var,
    *,
    title: str | rx.Var,
    says: str | rx.Var,
    on_confirm: rx.event.EventSpec,
    confirm_label: str,
    color_scheme: str = "red",
) -> rx.Component:
    """A small button that opens a dialog naming the consequence; only its confirm acts."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(label, size="1", variant="soft", color_scheme=color_scheme)
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(says),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep as it is", variant="soft", color_scheme="gray")
                ),
                rx.alert_dialog.action(
                    rx.button(confirm_label, color_scheme=color_scheme, on_click=on_confirm)
                ),
                justify="end",
                spacing="2",
                margin_top="1em",
            ),
            max_width="28em",
        ),
    )
