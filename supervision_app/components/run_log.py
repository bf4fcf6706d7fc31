"""The run page's progress steps and its live log."""

from __future__ import annotations

import reflex as rx

from supervision_app.pages.run_view import LogLine
from supervision_app.states.run import LEVELS, RunState


def progress() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Progress", weight="medium"),
                rx.spacer(),
                rx.text(RunState.percent, "%", size="2"),
                width="100%",
            ),
            rx.progress(value=RunState.percent, width="100%", aria_label="Progress"),
            rx.flex(
                rx.foreach(
                    RunState.steps,
                    lambda step: rx.badge(
                        rx.match(
                            step.state,
                            ("done", rx.icon("check", size=12)),
                            ("current", rx.icon("loader", size=12)),
                            ("stopped", rx.icon("octagon-x", size=12)),
                            rx.icon("circle", size=12),
                        ),
                        step.name,
                        color_scheme=rx.match(
                            step.state,
                            ("done", "green"),
                            ("current", "blue"),
                            ("stopped", "red"),
                            "gray",
                        ),
                        variant=rx.cond(step.state == "current", "solid", "soft"),
                        data_testid="step-" + step.state,
                    ),
                ),
                spacing="2",
                wrap="wrap",
            ),
            width="100%",
        ),
        width="100%",
    )


def _log_line(line: LogLine) -> rx.Component:
    return rx.hstack(
        rx.text(line.at, color_scheme="gray", flex_shrink="0"),
        rx.text(
            line.level.upper(),
            width="5.5em",
            flex_shrink="0",
            color=rx.match(
                line.level,
                ("error", rx.color("red", 11)),
                ("warning", rx.color("amber", 11)),
                ("debug", rx.color("gray", 9)),
                rx.color("blue", 11),
            ),
        ),
        rx.text(
            line.message,
            white_space="pre-wrap",
            word_break="break-word",
            weight=rx.cond(line.control, "bold", "regular"),
        ),
        spacing="2",
        font_family="monospace",
        font_size="12px",
        data_testid="log-line",
    )


def log_viewer() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Log", weight="medium"),
                *[
                    rx.checkbox(
                        level,
                        checked=RunState.level_filter.contains(level),
                        on_change=lambda _v, lv=level: RunState.toggle_level(lv),
                        size="1",
                    )
                    for level in LEVELS
                ],
                rx.input(
                    placeholder="Search the log",
                    value=RunState.search,
                    on_change=RunState.set_search.debounce(250),
                    size="1",
                    aria_label="Search the log",
                ),
                rx.spacer(),
                rx.text(
                    RunState.visible.length(),
                    " of ",
                    RunState.total_lines,
                    " lines",
                    size="1",
                    color_scheme="gray",
                ),
                rx.cond(
                    RunState.finished,
                    rx.fragment(),  # nothing more will come: nothing to hold
                    rx.button(
                        rx.cond(
                            RunState.following,
                            rx.icon("pause", size=12),
                            rx.icon("play", size=12),
                        ),
                        rx.cond(
                            RunState.following,
                            "Hold the log",
                            rx.cond(
                                RunState.new_while_paused > 0,
                                "Follow (" + RunState.new_while_paused.to_string() + " new)",
                                "Follow tail",
                            ),
                        ),
                        size="1",
                        variant="soft",
                        color_scheme="gray",
                        on_click=RunState.toggle_follow,
                        title="Hold or follow the log (the run itself is not paused)",
                    ),
                ),
                width="100%",
                align="center",
                wrap="wrap",
            ),
            # A plain scrolling box that takes focus: the arrow keys scroll it.
            rx.box(
                rx.vstack(
                    rx.foreach(RunState.visible, _log_line),
                    rx.box(id="log-end"),
                    spacing="0",
                    width="100%",
                ),
                height="24em",
                overflow_y="auto",
                overflow_x="hidden",
                tab_index=0,
                role="region",
                aria_label="Run log",
                id="log-viewer",
                width="100%",
            ),
            width="100%",
        ),
        width="100%",
    )
