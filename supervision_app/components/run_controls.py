"""The run page's sticky header with the steering buttons, the step-in card, and the
callouts that say a run is stale, lost or ended."""

from __future__ import annotations

import reflex as rx

from supervision_app.components.badges import stale_badge, status_badge
from supervision_app.components.fields import select_field
from supervision_app.states.run import RunState


def _terminate_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                rx.icon("octagon-x", size=14),
                "Terminate",
                color_scheme="red",
                variant="soft",
                size="2",
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Terminate this run?"),
            rx.alert_dialog.description(
                "The agent is told to stop at once. This cannot be undone."
            ),
            rx.input(
                placeholder="Why (the agent and the audit trail get this)",
                value=RunState.terminate_reason,
                on_change=RunState.set_terminate_reason,
                margin_y="1em",
                aria_label="Reason to terminate",
            ),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep running", variant="soft", color_scheme="gray")
                ),
                rx.alert_dialog.action(
                    rx.button(
                        "Terminate",
                        color_scheme="red",
                        on_click=RunState.terminate,
                        disabled=RunState.terminate_reason == "",
                    )
                ),
                justify="end",
            ),
        ),
    )


def _steering_buttons() -> rx.Component:
    """Pause or Resume, Correct, Terminate: in the sticky header, always in reach."""
    return rx.cond(
        RunState.finished,
        rx.fragment(),
        rx.hstack(
            rx.cond(
                RunState.status == "paused",
                rx.button(rx.icon("play", size=14), "Resume", on_click=RunState.resume),
                rx.button(
                    rx.icon("pause", size=14), "Pause", variant="soft", on_click=RunState.pause
                ),
            ),
            rx.button(
                rx.icon("message-square-text", size=14),
                "Correct",
                variant="soft",
                color_scheme="gray",
                on_click=rx.call_script(
                    "const f = document.getElementById('correction-input');"
                    " f?.scrollIntoView({block: 'center'}); f?.focus();"
                ),
            ),
            _terminate_dialog(),
            spacing="2",
            wrap="wrap",
        ),
    )


def controls() -> rx.Component:
    """Steering for the run's supervisor and admins; a viewer is told who steers instead."""
    return rx.cond(RunState.may_steer, _steering_card(), _read_only_card())


def _read_only_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text("You are watching", weight="medium"),
            rx.cond(
                RunState.finished,
                rx.text(
                    "This run has ended. Its supervisor and the admins steered it.",
                    size="2",
                ),
                rx.text(
                    "You follow this run as it happens. Its supervisor and the admins can "
                    "pause, correct or terminate it.",
                    size="2",
                ),
            ),
            width="100%",
        ),
        width="100%",
        data_testid="read-only-run",
    )


def _steering_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text("Step in", weight="medium"),
            rx.cond(
                RunState.finished,
                rx.text(
                    "The run has ended; you can still complete supervision with a note.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.hstack(
                    rx.input(
                        placeholder="Correction for the agent",
                        value=RunState.correction,
                        on_change=RunState.set_correction,
                        width="100%",
                        aria_label="Correction",
                        id="correction-input",
                    ),
                    rx.button("Send", on_click=RunState.send_correction),
                    width="100%",
                ),
            ),
            rx.cond(
                RunState.supervision_completed,
                rx.badge("supervision completed", color_scheme="green"),
                rx.hstack(
                    rx.input(
                        placeholder="Note to end supervision",
                        value=RunState.complete_note,
                        on_change=RunState.set_complete_note,
                        width="100%",
                        aria_label="Completion note",
                    ),
                    rx.text("Rating", size="2", color_scheme="gray"),
                    select_field(
                        ["1", "2", "3", "4", "5"],
                        value=RunState.complete_rating,
                        on_change=RunState.set_complete_rating,
                        label="Rating",
                    ),
                    rx.button(
                        "Complete session", variant="outline", on_click=RunState.complete_session
                    ),
                    width="100%",
                    wrap="wrap",
                ),
            ),
            width="100%",
        ),
        width="100%",
    )


def sticky_header() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.link(
                rx.hstack(
                    rx.icon("arrow-left", size=14), "Monitoring", spacing="1", align="center"
                ),
                href="/monitoring",
            ),
            rx.heading(RunState.action, size="5", overflow_wrap="anywhere"),
            status_badge(RunState.status),
            rx.cond(RunState.stale, stale_badge(RunState.silent_for)),
            rx.spacer(),
            rx.cond(
                RunState.may_steer,
                _steering_buttons(),
                rx.badge("read-only", variant="outline", color_scheme="gray"),
            ),
            align="center",
            wrap="wrap",
            width="100%",
        ),
        rx.hstack(
            rx.text(
                "by ",
                rx.link(RunState.agent_name, href="/history/" + RunState.agent_id.to_string()),
                size="2",
            ),
            rx.cond(
                RunState.supervision == "none",
                rx.text("· unsupervised (audited)", size="2"),
                rx.text("· supervised by ", RunState.supervisor, size="2"),
            ),
            rx.cond(
                RunState.supervision == "autonomous",
                rx.badge("AI supervisor", color_scheme="purple"),
            ),
            rx.text("· started ", RunState.started, size="2", color_scheme="gray"),
            rx.text("· agent last heard ", RunState.last_heard, size="2", color_scheme="gray"),
            align="center",
            wrap="wrap",
            spacing="1",
        ),
        position="sticky",
        top="0",
        z_index="5",
        background="var(--color-background)",
        padding_y="0.5em",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        width="100%",
        spacing="1",
        data_testid="run-header",
    )


def liveness_callouts() -> rx.Component:
    return rx.fragment(
        rx.cond(
            RunState.stale,
            rx.callout(
                "No word from the agent for " + RunState.silent_for + ". It ends "
                "'lost' if the silence lasts; the agent is then told to stop.",
                icon="clock-alert",
                color_scheme="amber",
                width="100%",
            ),
        ),
        rx.cond(
            RunState.status == "lost",
            rx.callout(
                "Lost: the agent was last heard " + RunState.last_heard + ". "
                "What it was doing may or may not have happened: check before running it again.",
                icon="unplug",
                color_scheme="red",
                width="100%",
                data_testid="run-lost",
            ),
        ),
        rx.cond(
            RunState.ended_because != "",
            rx.callout(
                RunState.ended_because,
                icon="octagon-x",
                color_scheme="red",
                width="100%",
                data_testid="run-ended-because",
            ),
        ),
    )
