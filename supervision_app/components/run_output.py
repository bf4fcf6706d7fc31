"""The run page's output card: text, JSON, a table or a chart, as the agent reported it."""

from __future__ import annotations

import reflex as rx

from supervision_app.states.run import RunState


def _chart(kind: str) -> rx.Component:
    """A line or bar chart of the output's series (one component per kind: Recharts needs it)."""
    if kind == "bar":
        chart, series = (
            rx.recharts.bar_chart,
            (lambda n: rx.recharts.bar(data_key=n, fill=rx.color("accent", 9))),
        )
    else:
        chart, series = (
            rx.recharts.line_chart,
            (lambda n: rx.recharts.line(data_key=n, stroke=rx.color("accent", 9))),
        )
    return chart(
        rx.foreach(RunState.output_series, series),
        rx.recharts.x_axis(data_key="x"),
        rx.recharts.y_axis(),
        rx.recharts.tooltip(),
        rx.recharts.legend(),
        data=RunState.output_chart,
        width="100%",
        height=240,
    )


def output() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Output", weight="medium"),
                rx.text(RunState.output_title, size="2", color_scheme="gray"),
            ),
            rx.match(
                RunState.output_kind,
                ("text", rx.text(RunState.output_text, white_space="pre-wrap")),
                (
                    "json",
                    rx.accordion.root(
                        rx.accordion.item(
                            header="JSON",
                            content=rx.code_block(
                                RunState.output_text,
                                language="json",
                                width="100%",
                                wrap_long_lines=True,
                            ),
                        ),
                        collapsible=True,
                        default_value="item-0",
                        type="single",
                        width="100%",
                    ),
                ),
                (
                    "table",
                    _output_table(),
                ),
                (
                    "chart",
                    rx.cond(RunState.output_chart_type == "bar", _chart("bar"), _chart("line")),
                ),
                rx.text(
                    rx.cond(
                        RunState.finished,
                        "The run ended without output.",
                        "No output yet: it appears here as the agent reports it.",
                    ),
                    size="2",
                    color_scheme="gray",
                ),
            ),
            width="100%",
        ),
        width="100%",
    )


def _output_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(rx.foreach(RunState.output_table.columns, rx.table.column_header_cell))
        ),
        # The body takes focus, so the arrow keys scroll a table wider than its column.
        rx.table.body(
            rx.foreach(
                RunState.output_table.rows,
                lambda row: rx.table.row(rx.foreach(row, rx.table.cell)),
            ),
            tab_index=0,
            aria_label="Output rows",
        ),
        width="100%",
        size="1",
    )
