"""One run, live: named progress steps, the log viewer, the output preview, interventions."""

from __future__ import annotations

import reflex as rx

from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.run_controls import controls, liveness_callouts, sticky_header
from supervision_app.components.run_log import log_viewer, progress
from supervision_app.components.run_output import output
from supervision_app.states.run import RunState

__all__ = ["RunState", "run_page"]
LIVENESS_CHECK_MS = 5000  # how soon a run that went quiet shows as stale


def _skeleton() -> rx.Component:
    return rx.vstack(
        rx.skeleton(rx.box(height="2.5em", width="100%")),
        rx.flex(
            rx.box(rx.skeleton(rx.box(height="20em")), width=["100%", "100%", "62%"]),
            rx.box(rx.skeleton(rx.box(height="20em")), width=["100%", "100%", "38%"]),
            direction=rx.breakpoints(initial="column", md="row"),
            spacing="4",
            width="100%",
        ),
        width="100%",
        spacing="3",
        aria_busy="true",
        aria_label="Loading the run",
    )


def run_page() -> rx.Component:
    return dashboard_page(
        "Run",
        rx.cond(
            ~RunState.loaded,
            _skeleton(),
            rx.cond(
                RunState.found,
                rx.vstack(
                    rx.moment(
                        interval=LIVENESS_CHECK_MS,
                        on_change=lambda _now: RunState.check_liveness,
                        display="none",
                    ),
                    sticky_header(),
                    liveness_callouts(),
                    rx.flex(
                        # min_width 0: a wide output table scrolls in its column instead of
                        # widening the page.
                        rx.vstack(
                            progress(), log_viewer(), width=["100%", "100%", "62%"], min_width="0"
                        ),
                        rx.vstack(
                            controls(),
                            output(),
                            rx.card(
                                rx.text("Parameters", weight="medium"),
                                rx.code_block(
                                    RunState.parameters_json,
                                    language="json",
                                    width="100%",
                                    wrap_long_lines=True,  # no scroll box the keyboard misses
                                ),
                                width="100%",
                            ),
                            width=["100%", "100%", "38%"],
                            min_width="0",
                        ),
                        direction=rx.breakpoints(initial="column", md="row"),
                        spacing="4",
                        width="100%",
                        align="start",
                    ),
                    width="100%",
                    spacing="3",
                ),
                empty_state(
                    "search-x",
                    "Run not found",
                    "It does not exist or is supervised by someone else.",
                ),
            ),
        ),
    )
