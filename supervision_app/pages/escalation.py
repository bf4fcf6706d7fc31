"""Escalation screen (admins): who is asked about a proposal and for how long — the chains per
category or agent, the categories' on-call hours, and everyone's delegates while away."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import reflex as rx
from sqlmodel import Session

from services import agents as agent_service
from services import escalation_chains, notice_channels, on_call
from services import users as user_service
from services.clock import utcnow
from services.errors import DomainError
from services.escalation import STEP_KINDS
from services.policy import callback_targets
from services.users import UserRead
from supervision_app.components.fields import select_field
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.timefmt import clock_time, period
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone

STEP_TITLES = {
    "supervisor": "The agent's supervisor",
    "delegate": "Their delegate, while they are away",
    "on_call": "The category's on-call people (their hours, below)",
    "reviewer": "The AI reviewer (only what its allow-list lets it approve)",
}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@dataclass
class ChainRow:
    scope: str
    label: str
    summary: str
    minutes: str
    built_in: bool
    steps: list[str]
    final: str
    step_minutes: dict[str, int]


@dataclass
class ShiftRow:
    id: int
    category: str
    person: str
    hours: str


@dataclass
class ChannelRow:
    id: int
    name: str
    kind: str
    target: str
    enabled: bool
    status: str  # "last sent 14:05 UTC", "last error: …", "nothing sent yet"
    failing: bool


@dataclass
class DelegationRow:
    id: int
    who: str
    delegate: str
    period: str


def _minutes_text(minutes: dict[str, int]) -> str:
    return ", ".join(f"{risk} {minutes[risk]} min" for risk in ("high", "medium", "safe"))


class EscalationState(rx.State):
    chains: list[ChainRow] = []
    shifts: list[ShiftRow] = []
    delegations: list[DelegationRow] = []
    scope_options: list[str] = []
    people: list[str] = []
    categories: list[str] = []
    loaded: bool = False
    # The chain editor.
    edit_scope: str = "default"
    edit_steps: list[str] = list(STEP_KINDS)
    edit_final: str = "reject"
    edit_high: str = "5"
    edit_medium: str = "15"
    edit_safe: str = "60"
    edit_error: str = ""
    # The on-call form.
    shift_category: str = ""
    shift_person: str = ""
    shift_days: list[str] = ["Mon", "Tue", "Wed", "Thu", "Fri"]
    shift_start: str = "09:00"
    shift_end: str = "17:00"
    shift_zone: str = "UTC"
    shift_error: str = ""
    channels: list[ChannelRow] = []
    channel_kind: str = "webhook"
    channel_name: str = ""
    channel_target: str = ""
    channel_host: str = ""
    channel_port: str = "587"
    channel_tls: str = "starttls"
    channel_username: str = ""
    channel_error: str = ""
    _people_ids: dict[str, int] = {}

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None or not user.is_admin:
            return
        now = utcnow()

        def read(session):  # noqa: ANN001, ANN202
            return (
                escalation_chains.list_chains(session=session),
                on_call.list_shifts(session=session),
                on_call.list_delegations(session=session, now=now),
                agent_service.list_agents(session=session),
                user_service.list_users(session=session),
                notice_channels.list_channels(session=session),
            )

        chains, shifts, delegations, agents, users, channels = await data.read(read)
        self.channels = [
            ChannelRow(
                id=c.id,
                name=c.name,
                kind=c.kind,
                target=c.target,
                enabled=c.enabled,
                status=(
                    f"last error: {c.last_error}"
                    if c.last_error
                    else f"last sent {clock_time(c.last_sent_at, now, viewer_zone(self))}"
                    if c.last_sent_at
                    else "nothing sent yet"
                ),
                failing=bool(c.last_error),
            )
            for c in channels
        ]
        self.chains = [
            ChainRow(
                scope=c.scope,
                label=c.label,
                summary=c.summary,
                minutes=_minutes_text(c.step_minutes),
                built_in=c.built_in,
                steps=list(c.steps),
                final=c.final,
                step_minutes=dict(c.step_minutes),
            )
            for c in chains
        ]
        self.shifts = [
            ShiftRow(id=s.id, category=s.category, person=s.user_name, hours=s.summary)
            for s in shifts
        ]
        self.delegations = [
            DelegationRow(
                id=d.id,
                who=d.user_name,
                delegate=d.delegate_name,
                period=period(d.starts_at, d.ends_at, viewer_zone(self)),
            )
            for d in delegations
        ]
        self.categories = sorted({a.category for a in agents})
        self.scope_options = [
            "default",
            *[f"category:{c}" for c in self.categories],
            *[f"agent:{a.id}" for a in sorted(agents, key=lambda a: a.id)],
        ]
        deciders = [u for u in users if u.is_active and u.role != "viewer"]
        self._people_ids = {f"{u.display_name} ({u.username})": u.id for u in deciders}
        self.people = sorted(self._people_ids)
        if not self.shift_category and self.categories:
            self.shift_category = self.categories[0]
        if not self.loaded:  # the editor starts on the default chain as it is
            self._load_editor(self.edit_scope)
        self.loaded = True

    @rx.event
    def edit(self, scope: str):
        self._load_editor(scope)

    def _load_editor(self, scope: str) -> None:
        """The editor shows `scope`'s chain when one is set, else the defaults."""
        row = next((c for c in self.chains if c.scope == scope), None)
        self.edit_scope, self.edit_error = scope, ""
        if row is None or (row.built_in and scope != "default"):
            self.edit_steps, self.edit_final = list(STEP_KINDS), "reject"
            self.edit_high, self.edit_medium, self.edit_safe = "5", "15", "60"
            return
        self.edit_steps = [k for k in STEP_KINDS if k in row.steps]
        self.edit_final = row.final
        self.edit_high = str(row.step_minutes.get("high", 5))
        self.edit_medium = str(row.step_minutes.get("medium", 15))
        self.edit_safe = str(row.step_minutes.get("safe", 60))

    @rx.event
    def set_edit_scope(self, value: str):
        """Choosing what the chain is for shows that scope's chain (or the defaults)."""
        self._load_editor(value)

    @rx.event
    def toggle_step(self, kind: str, on: bool):
        chosen = set(self.edit_steps) | {kind} if on else set(self.edit_steps) - {kind}
        self.edit_steps = [k for k in STEP_KINDS if k in chosen]

    @rx.event
    def set_edit_final(self, value: str | list[str]):
        self.edit_final = value if isinstance(value, str) else value[0]

    @rx.event
    def set_edit_high(self, value: str):
        self.edit_high = value

    @rx.event
    def set_edit_medium(self, value: str):
        self.edit_medium = value

    @rx.event
    def set_edit_safe(self, value: str):
        self.edit_safe = value

    @rx.event
    async def save_chain(self):
        admin = await self._admin()
        if admin is None:
            return rx.toast.error("Only admins set escalation chains.")
        minutes = {}
        for risk, text in (
            ("high", self.edit_high),
            ("medium", self.edit_medium),
            ("safe", self.edit_safe),
        ):
            if not (text.strip().isascii() and text.strip().isdigit()):
                self.edit_error = f"Give the {risk}-risk step time in whole minutes."
                return
            minutes[risk] = int(text)
        scope, steps, final = self.edit_scope, list(self.edit_steps), self.edit_final
        try:
            saved = await data.write(
                lambda session: escalation_chains.set_chain(
                    session=session,
                    caller=admin,
                    scope=scope,
                    steps=steps,
                    final=final,
                    step_minutes=minutes,
                    now=utcnow(),
                )
            )
        except DomainError as error:
            self.edit_error = data.sentence(error.message)
            return
        self.edit_error = ""
        await self.load()
        return rx.toast.success(f"{saved.label}: {saved.summary}.")

    @rx.event
    async def clear_chain(self, scope: str):
        return await self._admin_change(
            "set escalation chains",
            lambda session, admin: escalation_chains.clear_chain(
                session=session, caller=admin, scope=scope, now=utcnow()
            ),
            "Removed: that scope follows the next chain up again.",
        )

    @rx.event
    def set_shift_category(self, value: str):
        self.shift_category = value

    @rx.event
    def set_shift_person(self, value: str):
        self.shift_person = value

    @rx.event
    def toggle_day(self, day: str, on: bool):
        chosen = set(self.shift_days) | {day} if on else set(self.shift_days) - {day}
        self.shift_days = [d for d in WEEKDAYS if d in chosen]

    @rx.event
    def set_shift_start(self, value: str):
        self.shift_start = value

    @rx.event
    def set_shift_end(self, value: str):
        self.shift_end = value

    @rx.event
    def set_shift_zone(self, value: str):
        self.shift_zone = value

    @rx.event
    async def add_shift(self):
        admin = await self._admin()
        if admin is None:
            return rx.toast.error("Only admins set on-call hours.")
        person = self._people_ids.get(self.shift_person)
        if person is None:
            self.shift_error = "Choose who is on call."
            return
        category, days = self.shift_category, [WEEKDAYS.index(d) for d in self.shift_days]
        start, end, zone = self.shift_start, self.shift_end, self.shift_zone.strip() or "UTC"
        try:
            added = await data.write(
                lambda session: on_call.add_shift(
                    session=session,
                    caller=admin,
                    category=category,
                    user_id=person,
                    weekdays=days,
                    start=start,
                    end=end,
                    timezone=zone,
                    now=utcnow(),
                )
            )
        except DomainError as error:
            self.shift_error = data.sentence(error.message)
            return
        self.shift_error = ""
        await self.load()
        return rx.toast.success(
            f"{added.user_name} is on call for {added.category}: {added.summary}."
        )

    @rx.event
    async def remove_shift(self, shift_id: int):
        return await self._admin_change(
            "set on-call hours",
            lambda session, admin: on_call.remove_shift(
                session=session, caller=admin, shift_id=shift_id, now=utcnow()
            ),
            "On-call hours removed.",
        )

    @rx.event
    def set_channel_kind(self, value: str | list[str]):
        self.channel_kind = value if isinstance(value, str) else value[0]

    @rx.event
    def set_channel_name(self, value: str):
        self.channel_name = value

    @rx.event
    def set_channel_target(self, value: str):
        self.channel_target = value

    @rx.event
    def set_channel_host(self, value: str):
        self.channel_host = value

    @rx.event
    def set_channel_port(self, value: str):
        self.channel_port = value

    @rx.event
    def set_channel_tls(self, value: str):
        self.channel_tls = value

    @rx.event
    def set_channel_username(self, value: str):
        self.channel_username = value

    @rx.event
    async def add_channel(self):
        admin = await self._admin()
        if admin is None:
            return rx.toast.error("Only admins set notification channels.")
        kind, name, target = self.channel_kind, self.channel_name, self.channel_target
        settings: dict[str, object] = {}
        if kind == "email":
            if not (self.channel_port.strip().isascii() and self.channel_port.strip().isdigit()):
                self.channel_error = "The SMTP port is a number, e.g. 587."
                return
            settings = {
                "host": self.channel_host,
                "port": int(self.channel_port),
                "tls": self.channel_tls,
                "username": self.channel_username,
            }
        try:
            if kind == "webhook":  # the host is looked up before the write, not during it
                target = await data.run_blocking(
                    lambda: notice_channels.checked_webhook(target, callback_targets())
                )
            added = await data.write(
                lambda session: notice_channels.add_channel(
                    session=session,
                    caller=admin,
                    name=name,
                    kind=kind,
                    target=target,
                    settings=settings,
                    targets=None,
                    now=utcnow(),
                )
            )
        except DomainError as error:
            self.channel_error = data.sentence(error.message)
            return
        self.channel_error, self.channel_name, self.channel_target = "", "", ""
        await self.load()
        return rx.toast.success(f"Channel {added.name} added: people asked are told there.")

    @rx.event
    async def toggle_channel(self, channel_id: int, enabled: bool):
        return await self._admin_change(
            "set notification channels",
            lambda session, admin: notice_channels.set_enabled(
                session=session, caller=admin, channel_id=channel_id, enabled=enabled, now=utcnow()
            ),
            "Notices go out on this channel again." if enabled else "This channel is off.",
        )

    @rx.event
    async def remove_channel(self, channel_id: int):
        return await self._admin_change(
            "set notification channels",
            lambda session, admin: notice_channels.remove_channel(
                session=session, caller=admin, channel_id=channel_id, now=utcnow()
            ),
            "Channel removed.",
        )

    @rx.event
    async def end_delegation(self, delegation_id: int):
        return await self._admin_change(
            "end others' delegations",
            lambda session, admin: on_call.end_delegation(
                session=session, caller=admin, delegation_id=delegation_id, now=utcnow()
            ),
            "Delegation ended.",
        )

    async def _admin(self) -> UserRead | None:
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        return user if user is not None and user.is_admin else None

    async def _admin_change(
        self, doing: str, write: Callable[[Session, UserRead], object], done: str
    ) -> rx.event.EventSpec:
        """A list's button: the admin's change written, the screen reloaded, said in a toast
        (what went wrong too)."""
        admin = await self._admin()
        if admin is None:
            return rx.toast.error(f"Only admins {doing}.")
        try:
            await data.write(lambda session: write(session, admin))
        except DomainError as error:
            return rx.toast.error(data.sentence(error.message))
        await self.load()
        return rx.toast.success(done)


def _label(text: str, target: str) -> rx.Component:
    return rx.el.label(text, html_for=target, font_size="var(--font-size-2)")


def _chain_row(row: ChainRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(row.label, weight="bold"),
                rx.cond(row.built_in, rx.badge("built in", variant="soft", color_scheme="gray")),
                rx.spacer(),
                rx.button(
                    "Edit",
                    size="1",
                    variant="soft",
                    on_click=EscalationState.edit(row.scope),
                    aria_label="Edit the chain of " + row.label,
                ),
                rx.cond(
                    ~row.built_in,
                    rx.button(
                        "Remove",
                        size="1",
                        variant="ghost",
                        color_scheme="gray",
                        on_click=EscalationState.clear_chain(row.scope),
                        aria_label="Remove the chain of " + row.label,
                    ),
                ),
                width="100%",
                align="center",
                wrap="wrap",
            ),
            rx.text(row.summary, size="2", style={"overflow_wrap": "anywhere"}),
            rx.text("Each step lasts: ", row.minutes, size="1", color_scheme="gray"),
            spacing="1",
            width="100%",
        ),
        width="100%",
        data_testid="chain",
    )


def _step_box(kind: str) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.checkbox(
                checked=EscalationState.edit_steps.contains(kind),
                on_change=lambda on: EscalationState.toggle_step(kind, on),
                id=f"step-{kind}",
            ),
            rx.text(STEP_TITLES[kind], size="2"),
            spacing="2",
            align="center",
        ),
        html_for=f"step-{kind}",
    )


def _minutes_input(risk: str, value: rx.Var, handler: rx.EventHandler) -> rx.Component:
    return rx.vstack(
        _label(f"{risk.capitalize()} risk (min)", f"minutes-{risk}"),
        rx.input(
            id=f"minutes-{risk}",
            value=value,
            on_change=handler,
            type="number",
            min=1,
            width="7em",
        ),
        spacing="1",
    )


def _chain_editor() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Set a chain", size="3"),
            rx.text(
                "Who is asked about an INTERN's proposal, in this order. A step whose people are "
                "not available is skipped at once; each step lasts as long as the action's risk "
                "allows. An agent's own chain wins over its category's, which wins over the "
                "default. Proposals already under way keep the chain they started with.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                EscalationState.edit_error != "",
                rx.callout(
                    EscalationState.edit_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    role="alert",
                    id="chain-error",
                ),
            ),
            _label("For", "chain-scope"),
            select_field(
                EscalationState.scope_options,
                value=EscalationState.edit_scope,
                on_change=EscalationState.set_edit_scope,
                id="chain-scope",
                label="For",
            ),
            rx.text("Steps", size="2", weight="medium"),
            *[_step_box(kind) for kind in STEP_KINDS],
            rx.text("When nobody decided", size="2", weight="medium"),
            rx.radio_group(
                ["reject", "wait"],
                value=EscalationState.edit_final,
                on_change=EscalationState.set_edit_final,
                direction="row",
                aria_label="When nobody decided",
            ),
            rx.text(
                "reject (fail closed: the agent is told at once) · wait (for anyone asked, until "
                "the proposal expires, then rejected). Nothing is ever approved by timeout.",
                size="1",
                color_scheme="gray",
            ),
            rx.hstack(
                _minutes_input("high", EscalationState.edit_high, EscalationState.set_edit_high),
                _minutes_input(
                    "medium", EscalationState.edit_medium, EscalationState.set_edit_medium
                ),
                _minutes_input("safe", EscalationState.edit_safe, EscalationState.set_edit_safe),
                wrap="wrap",
                spacing="3",
            ),
            rx.button("Save chain", on_click=EscalationState.save_chain),
            spacing="2",
            width="100%",
        ),
        width="100%",
        max_width="40em",
    )


def _shift_row(row: ShiftRow) -> rx.Component:
    return rx.hstack(
        rx.text(row.category, weight="medium", size="2"),
        rx.text(row.person, size="2"),
        rx.text(row.hours, size="2", color_scheme="gray"),
        rx.spacer(),
        rx.button(
            "Remove",
            size="1",
            variant="ghost",
            color_scheme="gray",
            on_click=EscalationState.remove_shift(row.id),
            aria_label="Remove the on-call hours of " + row.person,
        ),
        width="100%",
        wrap="wrap",
        align="center",
        data_testid="shift",
    )


def _day_box(day: str) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.checkbox(
                checked=EscalationState.shift_days.contains(day),
                on_change=lambda on: EscalationState.toggle_day(day, on),
                id=f"day-{day}",
            ),
            rx.text(day, size="2"),
            spacing="1",
            align="center",
        ),
        html_for=f"day-{day}",
    )


def _on_call() -> rx.Component:
    return rx.vstack(
        rx.heading("On call", size="4"),
        rx.text(
            "Who is asked at a chain's on-call step: the people whose weekly hours for the "
            "agent's category cover the moment, if they are online.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            EscalationState.shifts.length() > 0,
            rx.vstack(rx.foreach(EscalationState.shifts, _shift_row), width="100%"),
            empty_state(
                "phone-call",
                "Nobody is on call",
                "Add hours below: a chain's on-call step is skipped until someone is.",
            ),
        ),
        rx.card(
            rx.vstack(
                rx.heading("Add on-call hours", size="3"),
                rx.cond(
                    EscalationState.shift_error != "",
                    rx.callout(
                        EscalationState.shift_error,
                        icon="triangle-alert",
                        color_scheme="red",
                        role="alert",
                        id="shift-error",
                    ),
                ),
                rx.hstack(
                    rx.vstack(
                        _label("Category", "shift-category"),
                        select_field(
                            EscalationState.categories,
                            value=EscalationState.shift_category,
                            on_change=EscalationState.set_shift_category,
                            id="shift-category",
                            label="Category",
                        ),
                    ),
                    rx.vstack(
                        _label("Who", "shift-person"),
                        select_field(
                            EscalationState.people,
                            value=EscalationState.shift_person,
                            on_change=EscalationState.set_shift_person,
                            placeholder="Choose a person",
                            id="shift-person",
                            label="Who",
                        ),
                    ),
                    wrap="wrap",
                    spacing="3",
                ),
                rx.hstack(*[_day_box(day) for day in WEEKDAYS], wrap="wrap", spacing="3"),
                rx.hstack(
                    rx.vstack(
                        _label("From", "shift-start"),
                        rx.input(
                            id="shift-start",
                            value=EscalationState.shift_start,
                            on_change=EscalationState.set_shift_start,
                            type="time",
                        ),
                    ),
                    rx.vstack(
                        _label("To", "shift-end"),
                        rx.input(
                            id="shift-end",
                            value=EscalationState.shift_end,
                            on_change=EscalationState.set_shift_end,
                            type="time",
                        ),
                    ),
                    rx.vstack(
                        _label("Time zone", "shift-zone"),
                        rx.input(
                            id="shift-zone",
                            value=EscalationState.shift_zone,
                            on_change=EscalationState.set_shift_zone,
                            placeholder="Europe/Paris",
                            max_length=64,
                        ),
                    ),
                    wrap="wrap",
                    spacing="3",
                ),
                rx.text(
                    "An end at or before the start runs past midnight (22:00 to 06:00).",
                    size="1",
                    color_scheme="gray",
                ),
                rx.button("Add hours", on_click=EscalationState.add_shift),
                spacing="2",
                width="100%",
            ),
            width="100%",
            max_width="40em",
        ),
        width="100%",
        spacing="3",
    )


def _channel_row(row: ChannelRow) -> rx.Component:
    return rx.hstack(
        rx.badge(row.kind, variant="soft"),
        rx.text(row.name, weight="medium", size="2"),
        rx.text(row.target, size="1", color_scheme="gray", style={"overflow_wrap": "anywhere"}),
        rx.text(
            row.status,
            size="1",
            color=rx.cond(row.failing, rx.color("red", 11), rx.color("gray", 11)),
            style={"overflow_wrap": "anywhere"},
        ),
        rx.spacer(),
        rx.el.label(
            rx.hstack(
                rx.switch(
                    checked=row.enabled,
                    on_change=lambda on: EscalationState.toggle_channel(row.id, on),
                ),
                rx.text("on", size="1"),
                spacing="1",
                align="center",
            ),
            aria_label="Send notices to " + row.name,
        ),
        rx.button(
            "Remove",
            size="1",
            variant="ghost",
            color_scheme="gray",
            on_click=EscalationState.remove_channel(row.id),
            aria_label="Remove the channel " + row.name,
        ),
        width="100%",
        wrap="wrap",
        align="center",
        data_testid="channel",
    )


def _text_field(label: str, target: str, value: rx.Var, handler, **props) -> rx.Component:  # noqa: ANN001
    return rx.vstack(
        _label(label, target),
        rx.input(id=target, value=value, on_change=handler, **props),
        spacing="1",
    )


def _channels() -> rx.Component:
    return rx.vstack(
        rx.heading("Notices", size="4"),
        rx.text(
            "Whenever a proposal asks someone, they are told here too, with one-time Approve, "
            "Reject and Open links that expire with their step: a chat channel's incoming "
            "webhook (Slack, Mattermost) gets one message per step; e-mail goes to each person "
            "asked who gave an address (Team presence). Links for high-risk actions, and every "
            "chat link, ask the reader to sign in first.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            EscalationState.channels.length() > 0,
            rx.vstack(rx.foreach(EscalationState.channels, _channel_row), width="100%"),
            empty_state(
                "bell",
                "No channels",
                "Add a chat webhook or an e-mail server below: until then people see what "
                "waits for them only in the dashboard.",
            ),
        ),
        rx.card(
            rx.vstack(
                rx.heading("Add a channel", size="3"),
                rx.cond(
                    EscalationState.channel_error != "",
                    rx.callout(
                        EscalationState.channel_error,
                        icon="triangle-alert",
                        color_scheme="red",
                        role="alert",
                        id="channel-error",
                    ),
                ),
                rx.radio_group(
                    ["webhook", "email"],
                    value=EscalationState.channel_kind,
                    on_change=EscalationState.set_channel_kind,
                    direction="row",
                    aria_label="Kind of channel",
                ),
                rx.hstack(
                    _text_field(
                        "Name",
                        "channel-name",
                        EscalationState.channel_name,
                        EscalationState.set_channel_name,
                        max_length=80,
                        placeholder="#approvals",
                    ),
                    _text_field(
                        rx.cond(
                            EscalationState.channel_kind == "webhook",
                            "Incoming-webhook URL",
                            "Sender address",
                        ),
                        "channel-target",
                        EscalationState.channel_target,
                        EscalationState.set_channel_target,
                        max_length=500,
                        width="22em",
                        max_width="100%",
                    ),
                    wrap="wrap",
                    spacing="3",
                ),
                rx.cond(
                    EscalationState.channel_kind == "email",
                    rx.vstack(
                        rx.hstack(
                            _text_field(
                                "SMTP host",
                                "channel-host",
                                EscalationState.channel_host,
                                EscalationState.set_channel_host,
                                placeholder="smtp.example.com",
                            ),
                            _text_field(
                                "Port",
                                "channel-port",
                                EscalationState.channel_port,
                                EscalationState.set_channel_port,
                                type="number",
                                width="6em",
                            ),
                            rx.vstack(
                                _label("TLS", "channel-tls"),
                                select_field(
                                    ["starttls", "ssl", "none"],
                                    value=EscalationState.channel_tls,
                                    on_change=EscalationState.set_channel_tls,
                                    id="channel-tls",
                                    label="TLS",
                                ),
                                spacing="1",
                            ),
                            _text_field(
                                "User name",
                                "channel-username",
                                EscalationState.channel_username,
                                EscalationState.set_channel_username,
                            ),
                            wrap="wrap",
                            spacing="3",
                        ),
                        rx.text(
                            "The password is read from SMTP_PASSWORD where the app runs; it is "
                            "never stored.",
                            size="1",
                            color_scheme="gray",
                        ),
                    ),
                    rx.text(
                        "A chat server on your own network must be listed in "
                        "CALLBACK_ALLOWED_HOSTS.",
                        size="1",
                        color_scheme="gray",
                    ),
                ),
                rx.button("Add channel", on_click=EscalationState.add_channel),
                spacing="2",
                width="100%",
            ),
            width="100%",
            max_width="40em",
        ),
        width="100%",
        spacing="3",
    )


def _delegation_row(row: DelegationRow) -> rx.Component:
    return rx.hstack(
        rx.text(row.who, " → ", rx.text.strong(row.delegate), size="2"),
        rx.text(row.period, size="2", color_scheme="gray"),
        rx.spacer(),
        rx.button(
            "End now",
            size="1",
            variant="ghost",
            color_scheme="gray",
            on_click=EscalationState.end_delegation(row.id),
            aria_label="End the delegation of " + row.who,
        ),
        width="100%",
        wrap="wrap",
        align="center",
        data_testid="delegation",
    )


def _delegations() -> rx.Component:
    return rx.vstack(
        rx.heading("Delegates", size="4"),
        rx.cond(
            EscalationState.delegations.length() > 0,
            rx.vstack(rx.foreach(EscalationState.delegations, _delegation_row), width="100%"),
            empty_state(
                "user-round-check",
                "No delegates named",
                "Supervisors name one on Team presence while they are away; their delegate is "
                "then asked in their place and watches their supervised work.",
            ),
        ),
        width="100%",
        spacing="3",
    )


def escalation_page() -> rx.Component:
    return dashboard_page(
        "Escalation",
        rx.cond(
            AuthState.is_admin,
            rx.cond(
                EscalationState.loaded,
                rx.vstack(
                    rx.heading("Chains", size="4"),
                    rx.vstack(rx.foreach(EscalationState.chains, _chain_row), width="100%"),
                    _chain_editor(),
                    _on_call(),
                    _channels(),
                    _delegations(),
                    width="100%",
                    spacing="5",
                ),
                rx.center(rx.spinner(size="3"), height="30vh"),
            ),
            rx.callout("Only admins set who is asked.", icon="lock"),
        ),
    )
