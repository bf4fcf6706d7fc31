"""The dashboard shell: sidebar with the screens, header with the signed-in user."""

from __future__ import annotations

import reflex as rx
from reflex.components.core.banner import has_connection_errors

from services.config import get_settings
from supervision_app.components.badges import presence_badge
from supervision_app.components.theme_menu import theme_menu, theme_menu_items
from supervision_app.states.auth import AuthState
from supervision_app.states.nav import TAKE_ACTIVITY, TIMER, NavState

# Marks the tab active on real input while it is visible; the heartbeat tick reads and resets it.
ACTIVITY_SCRIPT = """
(function () {
  if (window.__svActivityInstalled) return;
  window.__svActivityInstalled = true;
  window.__svActive = document.visibilityState === 'visible';
  const mark = () => { if (document.visibilityState === 'visible') window.__svActive = true; };
  ['pointermove', 'pointerdown', 'keydown', 'scroll', 'wheel', 'touchstart', 'focus']
    .forEach((name) => window.addEventListener(name, mark, { passive: true, capture: true }));
  document.addEventListener('visibilitychange', mark);
  window.addEventListener('pagehide', () => {
    if (!window.__svTab) return;
    const body = new Blob([JSON.stringify({ session_token: window.__svTab })],
                          { type: 'application/json' });
    navigator.sendBeacon('/api/activity/sessions/close', body);
  });
})();
"""
LIVE_TICK_MS = 5000  # keeps the tab's follower alive; changes themselves are pushed

SCREENS = [
    ("Needs you", "/", "inbox"),
    ("Monitoring", "/monitoring", "activity"),
    ("Proposals", "/proposals", "file-check"),
    ("Queue", "/queue", "list-ordered"),
    ("Agents", "/agents", "bot"),
    ("Team presence", "/presence", "users"),
    ("Audit", "/audit", "scroll-text"),
]
ADMIN_SCREENS = [
    ("Users", "/users", "user-cog"),
    ("Reviewers", "/reviewers", "scale"),
    ("Escalation", "/escalation", "route"),
]


COUNTS = {
    "/proposals": NavState.pending_proposals,
    "/queue": NavState.queued_entries,
    "/": NavState.needs_you,
    "/monitoring": NavState.active_runs,
}


def _count_badge(href: str) -> rx.Component:
    """How many wait on the screen at `href` (sidebar and phone menu alike)."""
    count = COUNTS.get(href)
    if count is None:
        return rx.fragment()
    return rx.cond(count > 0, rx.badge(count, radius="full", variant="solid", size="1"))


def _nav_link(label: str, href: str, icon: str) -> rx.Component:
    path = rx.State.router.page.path
    active = (path == href) | ((href == "/") & ((path == "/index") | (path == "index")))
    return rx.link(
        rx.hstack(
            rx.icon(icon, size=16),
            rx.text(label, size="2", weight="medium"),
            rx.spacer(),
            _count_badge(href),
            align="center",
            spacing="2",
            padding_x="0.75em",
            padding_y="0.5em",
            border_radius="var(--radius-2)",
            width="100%",
            background=rx.cond(active, rx.color("accent", 4), "transparent"),
            color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 11)),
            _hover={"background": rx.color("accent", 3)},
        ),
        href=href,
        underline="none",
        width="100%",
        aria_current=rx.cond(active, "page", "false"),
    )


def sidebar() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.icon("shield-check", size=22, color=rx.color("accent", 10)),
            rx.heading("Supervision", size="4"),
            align="center",
            spacing="2",
            padding_bottom="1em",
        ),
        *[_nav_link(*screen) for screen in SCREENS],
        rx.cond(
            AuthState.is_admin,
            rx.vstack(*[_nav_link(*screen) for screen in ADMIN_SCREENS], width="100%", spacing="1"),
        ),
        rx.spacer(),
        theme_menu(),
        spacing="1",
        padding="1em",
        width="14em",
        min_width="14em",
        height="100vh",
        position="sticky",
        top="0",
        border_right=f"1px solid {rx.color('gray', 5)}",
        display=["none", "none", "flex"],
        role="navigation",
        aria_label="Screens",
    )


def _menu_link(label: str, href: str) -> rx.Component:
    return rx.menu.item(
        rx.hstack(
            rx.text(label),
            rx.spacer(),
            _count_badge(href),
            width="100%",
            align="center",
        ),
        on_click=rx.redirect(href),
    )


def mobile_nav() -> rx.Component:
    """The phone's menu: everything the sidebar and the header's name hold."""
    return rx.box(
        rx.menu.root(
            rx.menu.trigger(rx.icon_button(rx.icon("menu"), variant="ghost", aria_label="Menu")),
            rx.menu.content(
                rx.text(
                    AuthState.display_name + " · " + AuthState.role,
                    size="1",
                    color_scheme="gray",
                    padding_x="0.75em",
                    padding_y="0.25em",
                ),
                rx.menu.separator(),
                *[_menu_link(label, href) for label, href, _ in SCREENS],
                rx.cond(
                    AuthState.is_admin,
                    rx.fragment(
                        rx.menu.separator(),
                        *[_menu_link(label, href) for label, href, _ in ADMIN_SCREENS],
                    ),
                ),
                rx.menu.separator(),
                theme_menu_items(),
                min_width="14em",
            ),
        ),
        display=["block", "block", "none"],
    )


def presence_control() -> rx.Component:
    """My presence, and the override menu (an override wins over heartbeats)."""
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.el.span("My presence: ", class_name="sr-only"),
                presence_badge(NavState.my_state),
                rx.cond(
                    NavState.my_override != "",
                    rx.text("manual " + NavState.my_override_until, size="1"),
                ),
                rx.icon("chevron-down", size=14),
                variant="ghost",
                size="1",
                id="my-presence",
            )
        ),
        rx.menu.content(
            rx.menu.item("Online for 1 hour", on_click=NavState.set_override("online", 60)),
            rx.menu.item("Online for 4 hours", on_click=NavState.set_override("online", 240)),
            rx.menu.item("Appear away", on_click=NavState.set_override("away", 0)),
            rx.menu.item("Offline for 1 hour", on_click=NavState.set_override("offline", 60)),
            rx.menu.item("Appear offline", on_click=NavState.set_override("offline", 0)),
            rx.menu.separator(),
            rx.menu.item("Follow my activity", on_click=NavState.clear_override),
        ),
    )


def live_indicator() -> rx.Component:
    """Green "live" while the tab's connection stands; amber "reconnecting" with the time of
    the last update this tab received (the viewer's local time) when it drops."""
    down = has_connection_errors | ~NavState.connected
    return rx.tooltip(
        rx.hstack(
            rx.box(
                width="8px",
                height="8px",
                border_radius="50%",
                background=rx.cond(down, rx.color("amber", 9), rx.color("grass", 9)),
            ),
            rx.cond(
                has_connection_errors,
                rx.text(
                    "reconnecting · last update ",
                    rx.moment(NavState.last_update, format="HH:mm:ss", local=True),
                    size="1",
                    color_scheme="amber",
                ),
                rx.text(
                    rx.cond(NavState.connected, "live", "connecting"), size="1", color_scheme="gray"
                ),
            ),
            align="center",
            spacing="1",
            id="live-indicator",
            role="status",
        ),
        content="Changes appear by themselves while this is green.",
    )


def connection_banner() -> rx.Component:
    """Said in words when the server cannot be reached (instead of the framework's raw
    websocket error): what it means for what you see and do."""
    return rx.cond(
        has_connection_errors,
        rx.callout(
            "The connection to the server is lost; reconnecting. What you see may be out of "
            "date, and what you click now is not sent until it is back.",
            icon="wifi-off",
            color_scheme="amber",
            width="100%",
            role="alert",
            id="connection-lost",
        ),
    )


def live_tickers() -> rx.Component:
    """Invisible timers: the live refresh and the presence heartbeat of this tab."""
    heartbeat_ms = get_settings().presence_heartbeat_s * 1000
    return rx.box(
        rx.script(ACTIVITY_SCRIPT),
        rx.moment(
            interval=LIVE_TICK_MS, on_change=lambda _now: NavState.tick(TIMER), display="none"
        ),
        rx.moment(
            interval=heartbeat_ms,
            on_change=rx.call_script(TAKE_ACTIVITY, callback=NavState.activity),
            display="none",
        ),
        # Opening or reloading a page is activity in itself.
        on_mount=NavState.activity(True),
        display="none",
    )


def header(title: str) -> rx.Component:
    return rx.hstack(
        mobile_nav(),
        rx.heading(title, size="6"),
        rx.spacer(),
        rx.hstack(
            live_indicator(),
            presence_control(),
            rx.hstack(
                rx.icon("circle-user", size=18),
                rx.text(AuthState.display_name, size="2", weight="medium", id="signed-in-user"),
                rx.badge(AuthState.role, variant="outline"),
                align="center",
                spacing="2",
                display=["none", "none", "flex"],
            ),
            rx.button("Sign out", size="1", variant="soft", on_click=AuthState.sign_out),
            align="center",
            spacing="2",
        ),
        align="center",
        wrap="wrap",
        width="100%",
        padding_bottom="1em",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        margin_bottom="1em",
    )


def dashboard_page(title: str, *content: rx.Component) -> rx.Component:
    """Wraps a screen in the shell; shows nothing of it until the user is known."""
    return rx.hstack(
        sidebar(),
        rx.box(
            rx.cond(
                AuthState.is_signed_in,
                rx.vstack(
                    live_tickers(),
                    header(title),
                    connection_banner(),
                    *content,
                    width="100%",
                    spacing="4",
                ),
                rx.center(rx.spinner(size="3"), height="50vh"),
            ),
            padding=["0.75em", "1em", "1.5em"],
            width="100%",
            max_width="1200px",
            min_width="0",  # wide content (a table) scrolls in its box, never widens the page
        ),
        spacing="0",
        align="start",
        width="100%",
    )


def empty_state(icon: str, title: str, hint: str, loaded: rx.Var | None = None) -> rx.Component:
    """What a list says when it is empty; until `loaded`, a skeleton instead (an empty state
    shown while the data is on its way would say something false)."""
    empty = rx.center(
        rx.vstack(
            rx.icon(icon, size=32, color=rx.color("gray", 9)),
            rx.text(title, weight="medium"),
            rx.text(hint, size="2", color_scheme="gray", text_align="center", max_width="32em"),
            align="center",
            spacing="2",
        ),
        padding="3em",
        width="100%",
        border=f"1px dashed {rx.color('gray', 6)}",
        border_radius="var(--radius-3)",
    )
    if loaded is None:
        return empty
    return rx.cond(loaded, empty, loading_rows())


def loading_rows(count: int = 3) -> rx.Component:
    return rx.vstack(
        *[rx.skeleton(rx.box(height="2.5em")) for _ in range(count)],
        width="100%",
        aria_busy="true",
        aria_label="Loading",
    )
