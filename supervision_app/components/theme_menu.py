"""The theme: follow the system (the default), light or dark, said in words (an icon alone
has no name for a screen reader and no meaning for many people)."""

from __future__ import annotations

import reflex as rx
from reflex.style import color_mode, set_color_mode

THEMES = [("system", "Follow system"), ("light", "Light"), ("dark", "Dark")]


def _chosen_name() -> rx.Var:
    return rx.match(color_mode, ("light", "light"), ("dark", "dark"), "follows system")


def _items() -> list[rx.Component]:
    return [
        rx.menu.item(
            rx.hstack(
                rx.text(label),
                rx.spacer(),
                rx.cond(color_mode == mode, rx.icon("check", size=14)),
                width="100%",
                align="center",
            ),
            on_click=set_color_mode(mode),
        )
        for mode, label in THEMES
    ]


def theme_menu() -> rx.Component:
    """For the sidebar: "Theme: follows system" opens the three choices."""
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.color_mode_cond(light=rx.icon("sun", size=14), dark=rx.icon("moon", size=14)),
                rx.text("Theme: ", _chosen_name(), size="1"),
                variant="ghost",
                size="1",
                color_scheme="gray",
            )
        ),
        rx.menu.content(*_items()),
    )


def theme_menu_items() -> rx.Component:
    """For the phone menu: the same choices under a "Theme" label."""
    return rx.fragment(
        rx.text("Theme", size="1", color_scheme="gray", padding_x="0.75em", padding_y="0.25em"),
        *_items(),
    )
