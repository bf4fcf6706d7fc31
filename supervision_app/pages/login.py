"""Sign-in, and on first run the form that creates the first admin."""

from __future__ import annotations

import reflex as rx

from supervision_app.components.layout import connection_banner
from supervision_app.states.auth import AuthState


def _error() -> rx.Component:
    return rx.cond(
        AuthState.login_error != "",
        rx.callout(AuthState.login_error, icon="triangle-alert", color_scheme="red", role="alert"),
    )


def _field(label: str, name: str, kind: str = "text", auto: str = "") -> rx.Component:
    return rx.vstack(
        # A real <label for=…> (Radix Text drops `for`), so the field has an accessible name.
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=name),
        rx.input(name=name, id=name, type=kind, auto_complete=auto, required=True, width="100%"),
        spacing="1",
        width="100%",
    )


def _sign_in_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Sign in", size="6"),
            rx.text("Supervise your agents.", color_scheme="gray", size="2"),
            rx.cond(
                AuthState.demo_hint != "",
                rx.callout(AuthState.demo_hint, icon="info", size="1", data_testid="demo-hint"),
            ),
            _error(),
            _field("Username", "username", auto="username"),
            _field("Password", "password", "password", "current-password"),
            rx.button("Sign in", type="submit", width="100%", loading=AuthState.busy),
            spacing="3",
        ),
        on_submit=AuthState.sign_in,
    )


def _first_admin_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Create the first admin", size="6"),
            rx.text(
                "No one has an account yet. This account will be an admin; add your team "
                "from the Users screen afterwards.",
                color_scheme="gray",
                size="2",
            ),
            _error(),
            _field("Username", "username", auto="username"),
            _field("Password (at least 8 characters)", "password", "password", "new-password"),
            _field("Password again", "password_again", "password", "new-password"),
            rx.button("Create admin and sign in", type="submit", width="100%"),
            spacing="3",
        ),
        on_submit=AuthState.create_first_admin,
    )


def login_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("shield-check", size=28, color=rx.color("accent", 10)),
                    rx.heading("Agent supervision", size="5"),
                    align="center",
                ),
                connection_banner(),
                rx.cond(AuthState.needs_first_admin, _first_admin_form(), _sign_in_form()),
                spacing="4",
            ),
            width="100%",
            max_width="24em",
            size="3",
        ),
        min_height="100vh",
        padding="1em",
    )
