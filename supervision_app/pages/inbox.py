""" "Needs you": the home screen. Everything waiting for the signed-in supervisor, riskiest
and oldest first, each with its action in the row; j / k / a / r / e / ? on the keyboard."""

from __future__ import annotations

import reflex as rx

from supervision_app.components.badges import risk_badge
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.run_now import run_now_button
from supervision_app.states.inbox import InboxRow, InboxState
from supervision_app.states.nav import NavState

# Single keys act on the focused row, unless the person is typing somewhere.
KEYBOARD_SCRIPT = """
(function () {
  if (window.__svInboxKeys) return;
  window.__svInboxKeys = true;
  const buttons = {j: 'inbox-key-next', k: 'inbox-key-prev', a: 'inbox-key-approve',
                   r: 'inbox-key-reject', e: 'inbox-key-edit', '?': 'inbox-key-help'};
  window.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const typing = 'input, textarea, select, [contenteditable], [role=dialog]';
    if (event.target.closest && event.target.closest(typing)) return;
    const button = document.getElementById(buttons[event.key]);
    if (button) { event.preventDefault(); button.click(); }
  });
})();
"""
SHORTCUTS = [
    ("j / k", "next / previous item"),
    ("a", "approve the proposal"),
    ("r", "reject it, with a reason"),
    ("e", "approve with changes (opens the proposal)"),
    ("?", "show or hide these keys"),
]


def _hidden_keys() -> rx.Component:
    """The buttons the keyboard presses (KEYBOARD_SCRIPT)."""
    return rx.box(
        rx.el.button(id="inbox-key-next", on_click=InboxState.move(1), tab_index=-1),
        rx.el.button(id="inbox-key-prev", on_click=InboxState.move(-1), tab_index=-1),
        rx.el.button(
            id="inbox-key-approve",
            on_click=InboxState.approve_key(InboxState.focused_key),
            tab_index=-1,
        ),
        rx.el.button(
            id="inbox-key-reject",
            on_click=InboxState.open_reject(InboxState.focused_key),
            tab_index=-1,
        ),
        rx.el.button(
            id="inbox-key-edit", on_click=InboxState.edit_key(InboxState.focused_key), tab_index=-1
        ),
        rx.el.button(id="inbox-key-help", on_click=InboxState.toggle_help, tab_index=-1),
        display="none",
        aria_hidden="true",
    )


def _actions(row: InboxRow) -> rx.Component:
    return rx.hstack(
        rx.match(
            row.kind,
            (
                "proposal",
                rx.hstack(
                    rx.button("Approve", size="1", on_click=InboxState.approve(row.object_id)),
                    rx.button(
                        "Reject",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=InboxState.open_reject(row.key),
                    ),
                    rx.link(rx.button("Edit", size="1", variant="soft"), href=row.href),
                    spacing="2",
                ),
            ),
            (
                "paused_run",
                rx.hstack(
                    rx.button("Resume", size="1", on_click=InboxState.resume(row.object_id)),
                    rx.link(rx.button("Open", size="1", variant="soft"), href=row.href),
                    spacing="2",
                ),
            ),
            (
                "queued",
                rx.hstack(
                    rx.cond(
                        row.mine,
                        run_now_button(NavState.my_available, InboxState.run_now(row.object_id)),
                    ),
                    rx.link(rx.button("Queue", size="1", variant="soft"), href=row.href),
                    spacing="2",
                ),
            ),
            rx.link(rx.button("Open", size="1", variant="soft"), href=row.href),
        ),
        spacing="2",
        flex_shrink="0",
    )


def _reject_form(row: InboxRow) -> rx.Component:
    return rx.cond(
        InboxState.rejecting == row.key,
        rx.form(
            rx.hstack(
                rx.el.input(type="hidden", name="proposal_id", value=row.object_id.to_string()),
                rx.input(
                    placeholder="Why (the agent is told)",
                    value=InboxState.reject_reason,
                    on_change=InboxState.set_reject_reason,
                    name="reason",
                    id="inbox-reason",
                    aria_label="Reason to reject",
                    width="100%",
                ),
                rx.button("Reject", size="2", color_scheme="red", type="submit"),
                rx.button(
                    "Cancel",
                    size="2",
                    variant="soft",
                    color_scheme="gray",
                    type="button",
                    on_click=InboxState.cancel_reject,
                ),
                width="100%",
            ),
            on_submit=InboxState.reject_submitted,
            reset_on_submit=False,
            width="100%",
        ),
    )


def _item(row: InboxRow, index: rx.Var[int]) -> rx.Component:
    focused = InboxState.cursor == index
    return rx.box(
        rx.vstack(
            rx.hstack(
                rx.cond(
                    row.bulk_ok,
                    rx.checkbox(
                        checked=InboxState.selected.contains(row.key),
                        on_change=lambda _v: InboxState.toggle_selected(row.key),
                        aria_label="Select " + row.action + " to approve together",
                    ),
                ),
                risk_badge(row.risk),
                rx.badge(row.kind_label, variant="outline", color_scheme="gray"),
                rx.text(
                    rx.link(
                        row.agent, href="/history/" + row.agent_id.to_string(), underline="always"
                    ),
                    " · ",
                    rx.code(row.action),
                    size="2",
                    weight="medium",
                ),
                rx.spacer(),
                _actions(row),
                align="center",
                wrap="wrap",
                width="100%",
                spacing="2",
            ),
            rx.cond(row.detail != "", rx.text(row.detail, size="2", overflow_wrap="anywhere")),
            rx.cond(
                row.parameters != "",
                rx.code(row.parameters, size="1", white_space="pre-wrap", word_break="break-all"),
            ),
            rx.hstack(
                rx.text("waiting ", row.waiting, size="1", color_scheme="gray"),
                rx.cond(
                    row.deadline != "",
                    rx.text("· ", row.deadline, size="1", color_scheme="amber"),
                ),
                spacing="1",
            ),
            _reject_form(row),
            spacing="1",
            width="100%",
        ),
        id="inbox-row-" + index.to_string(),
        data_testid="inbox-item",
        data_focused=rx.cond(focused, "true", "false"),
        tab_index=0,
        role="listitem",
        on_focus=InboxState.focus(index),
        padding="0.75em",
        border_radius="var(--radius-3)",
        border=rx.cond(
            focused, f"2px solid {rx.color('accent', 8)}", f"1px solid {rx.color('gray', 5)}"
        ),
        background=rx.cond(focused, rx.color("accent", 2), "transparent"),
        width="100%",
    )


def _help() -> rx.Component:
    return rx.cond(
        InboxState.show_help,
        rx.card(
            rx.vstack(
                rx.text("Keyboard", weight="medium"),
                *[
                    rx.hstack(rx.el.kbd(keys), rx.text(what, size="2"), spacing="2")
                    for keys, what in SHORTCUTS
                ],
                spacing="1",
            ),
            data_testid="inbox-help",
        ),
    )


def _bulk_bar() -> rx.Component:
    return rx.cond(
        InboxState.selected.length() > 0,
        rx.hstack(
            rx.text(InboxState.selected.length(), " selected", size="2"),
            rx.button(
                "Approve selected",
                size="2",
                on_click=InboxState.approve_selected,
                disabled=InboxState.selected_agents != 1,
            ),
            rx.cond(
                InboxState.selected_agents > 1,
                rx.text(
                    "Approve together only one agent's proposals.", size="1", color_scheme="amber"
                ),
            ),
            align="center",
            spacing="3",
        ),
    )


def _list() -> rx.Component:
    return rx.cond(
        InboxState.rows.length() > 0,
        rx.vstack(
            rx.foreach(InboxState.rows, _item),
            spacing="2",
            width="100%",
            role="list",
            aria_label="Waiting for you",
        ),
        rx.cond(
            InboxState.may_act,
            empty_state(
                "inbox",
                "Nothing needs you",
                "Proposals to decide, held or quiet runs, queued work and failed callbacks "
                "appear here as they happen.",
            ),
            empty_state(
                "eye",
                "Viewers watch; supervisors act",
                "Follow the team's runs live on Monitoring; each agent's past runs and "
                "decisions are in its history (Agents).",
            ),
        ),
    )


def inbox_page() -> rx.Component:
    return dashboard_page(
        "Needs you",
        rx.script(KEYBOARD_SCRIPT),
        _hidden_keys(),
        rx.moment(interval=15000, on_change=InboxState.load, display="none"),
        rx.hstack(
            rx.text(
                rx.cond(
                    InboxState.may_act,
                    "Riskiest and oldest first. Keys: j / k to move, a approve, r reject, "
                    "e edit, ? for all.",
                    "Nothing here is yours to decide: viewers watch.",
                ),
                size="2",
                color_scheme="gray",
            ),
            rx.spacer(),
            rx.button(
                "?",
                size="1",
                variant="soft",
                on_click=InboxState.toggle_help,
                aria_label="Keyboard shortcuts",
            ),
            width="100%",
            align="center",
        ),
        _help(),
        rx.cond(
            InboxState.notice != "",
            rx.hstack(
                rx.callout(
                    InboxState.notice,
                    icon="info",
                    color_scheme="amber",
                    width="100%",
                    data_testid="inbox-notice",
                ),
                rx.button("Dismiss", size="1", variant="soft", on_click=InboxState.dismiss_notice),
                width="100%",
                align="center",
            ),
        ),
        _bulk_bar(),
        rx.cond(
            InboxState.loaded,
            _list(),
            rx.vstack(*[rx.skeleton(rx.box(height="4em")) for _ in range(3)], width="100%"),
        ),
    )
