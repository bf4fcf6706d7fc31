"""Coloured badges: the same colour means the same thing on every screen."""

from __future__ import annotations

import reflex as rx

LEVEL_COLORS = {
    "STUDENT": "gray",
    "INTERN": "amber",
    "SUPERVISED": "blue",
    "AUTONOMOUS": "green",
}
PRESENCE_COLORS = {"online": "green", "away": "amber", "offline": "gray"}
RISK_COLORS = {"safe": "green", "medium": "amber", "high": "red"}
STATUS_COLORS = {
    "pending": "amber",
    "ready": "amber",
    "running": "blue",
    "executing": "blue",
    "paused": "orange",
    "approved": "green",
    "completed": "green",
    "rejected": "red",
    "failed": "red",
    "terminated": "red",
    "lost": "red",
    "cancelled": "gray",
    "expired": "gray",
    "withdrawn": "gray",
}


def _coloured(value: rx.Var, colors: dict[str, str], default: str = "gray") -> rx.Component:
    return rx.badge(
        value,
        color_scheme=rx.match(value, *[(k, v) for k, v in colors.items()], default),
        variant="soft",
        radius="full",
    )


def level_badge(level: rx.Var) -> rx.Component:
    return _coloured(level, LEVEL_COLORS)


def presence_badge(state: rx.Var) -> rx.Component:
    return _coloured(state, PRESENCE_COLORS)


def risk_badge(risk: rx.Var) -> rx.Component:
    return _coloured(risk, RISK_COLORS)


def status_badge(status: rx.Var) -> rx.Component:
    return _coloured(status, STATUS_COLORS)


def stale_badge(silent_for: rx.Var) -> rx.Component:
    """A run whose agent has gone quiet: it ends `lost` if the silence lasts."""
    return rx.tooltip(
        rx.badge("stale", color_scheme="amber", variant="surface", radius="full"),
        content="No report or control poll from the agent for " + silent_for,
    )
