"""Team presence screen: who is online now, and every change with its reason."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from services import presence
from services import users as user_service
from services.clock import utcnow
from services.policy import presence_rules
from supervision_app.components.badges import presence_badge
from supervision_app.components.card_table import card_table, labelled
from supervision_app.components.delegate_card import delegate_card
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.notice_email import notice_email_card
from supervision_app.components.timefmt import clock_time, exact_utc
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone


@dataclass
class MemberRow:
    id: int
    name: str
    role: str
    state: str
    since: str
    last_seen: str
    override: str


@dataclass
class ChangeRow:
    at: str
    at_exact: str
    name: str
    from_state: str
    to_state: str
    reason: str


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} seconds"
    minutes = seconds / 60
    return f"{minutes:g} minutes" if minutes < 120 else f"{minutes / 60:g} hours"


def rules_text(rules: presence.PresenceRules) -> str:
    """The thresholds in force, as people read them."""
    away, offline = rules.away_after.total_seconds(), rules.offline_after.total_seconds()
    return (
        f"Online while active in a dashboard tab in the last {_span(away)}; "
        f"away after {_span(away)} without activity, offline after {_span(offline)} or when "
        "the last tab closes. SUPERVISED work runs only while its supervisor (or the delegate "
        "they named while away) is "
        + ("online or away." if rules.away_counts_as_available else "online.")
    )


class PresenceState(rx.State):
    members: list[MemberRow] = []
    changes: list[ChangeRow] = []
    rules: str = ""
    loaded: bool = False

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        if await auth.current_user() is None:
            return
        now, rules, zone = utcnow(), presence_rules(), viewer_zone(self)
        self.rules = rules_text(rules)

        def fetch(session):  # noqa: ANN001, ANN202
            team = presence.team_presence(session=session, now=now, rules=rules)
            changes = presence.list_presence_changes(session=session, limit=30)
            names = {u.id: u.display_name for u in user_service.list_users(session=session)}
            return team, changes, names

        team, changes, names = await data.read(fetch)
        self.members = [
            MemberRow(
                id=user.id,
                name=user.display_name,
                role=str(user.role),
                state=str(state.state),
                since=clock_time(state.since, now, zone),
                last_seen=clock_time(state.last_heartbeat_at, now, zone, seconds=True)
                if state.last_heartbeat_at
                else "never",
                override=(
                    f"manual: {state.override_state}"
                    + (
                        f" until {clock_time(state.override_expires_at, now, zone)}"
                        if state.override_expires_at
                        else ""
                    )
                    if state.override_state
                    else ""
                ),
            )
            for user, state in team
        ]
        self.changes = [
            ChangeRow(
                at=clock_time(c.at, now, zone, seconds=True),
                at_exact=exact_utc(c.at),
                name=names.get(c.user_id, "?"),
                from_state=str(c.from_state),
                to_state=str(c.to_state),
                reason=presence.MOVE_REASONS.get(c.reason, c.reason),
            )
            for c in changes
        ]
        self.loaded = True


MEMBER_COLUMNS = ["Person", "Role", "State", "Since", "Last activity"]


def _member(row: MemberRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.name, weight="medium")),
        rx.table.cell(rx.badge(row.role, variant="outline")),
        rx.table.cell(
            rx.hstack(
                presence_badge(row.state), rx.text(row.override, size="1", color_scheme="gray")
            )
        ),
        rx.table.cell(row.since),
        rx.table.cell(row.last_seen),
        data_testid="presence-row",
    )


def _change(row: ChangeRow) -> rx.Component:
    return rx.hstack(
        rx.text(row.at, size="1", color_scheme="gray", min_width="8em", title=row.at_exact),
        rx.text(row.name, size="2", weight="medium"),
        presence_badge(row.from_state),
        rx.icon("arrow-right", size=12),
        presence_badge(row.to_state),
        rx.text(row.reason, size="1", color_scheme="gray"),
        align="center",
        flex_wrap="wrap",  # a phone wraps the reason under the move
        row_gap="0",
    )


def presence_page() -> rx.Component:
    return dashboard_page(
        "Team presence",
        rx.text(PresenceState.rules, size="2", color_scheme="gray", data_testid="presence-rules"),
        rx.box(
            card_table(
                rx.table.header(
                    rx.table.row(*[rx.table.column_header_cell(h) for h in MEMBER_COLUMNS])
                ),
                rx.table.body(
                    rx.foreach(
                        PresenceState.members, lambda m: labelled(_member(m), MEMBER_COLUMNS)
                    )
                ),
                width="100%",
            ),
            overflow_x="auto",
            width="100%",
        ),
        delegate_card(),
        notice_email_card(),
        rx.heading("Recent changes", size="3"),
        rx.cond(
            PresenceState.changes.length() > 0,
            rx.vstack(rx.foreach(PresenceState.changes, _change), spacing="3"),
            empty_state(
                "users",
                "No presence changes yet",
                "Changes appear as people open the dashboard, step away, "
                "or set their state by hand.",
                loaded=PresenceState.loaded,
            ),
        ),
    )
