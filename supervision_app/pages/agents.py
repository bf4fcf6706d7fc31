"""Agents screen: register agents, change their level, rotate keys, disable them."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from models import MaturityLevel
from services import agents as agent_service
from services import users as user_service
from services.agents import AgentCredentials, AgentRead
from services.clock import utcnow
from services.errors import DomainError
from services.users import UserRead
from supervision_app.components.badges import level_badge
from supervision_app.components.card_table import card_table, labelled
from supervision_app.components.confirm import LEVEL_EFFECTS, confirm_button
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.states import data
from supervision_app.states.auth import AuthState

LEVELS = [level.value for level in MaturityLevel]
NO_SUPERVISOR = "none"


@dataclass
class AgentRow:
    id: int
    name: str
    description: str
    category: str
    specialties: str
    level: str
    supervisor: str
    supervisor_choice: str  # the select's value: a user id, or NO_SUPERVISOR
    needs_supervisor: bool
    can_supervise: bool
    enabled: bool
    key_hint: str


@dataclass
class SupervisorOption:
    id: str
    label: str
    name: str


def _row(agent: AgentRead, users: dict[int, UserRead]) -> AgentRow:
    supervisor = users.get(agent.supervisor_id or 0)
    return AgentRow(
        id=agent.id,
        name=agent.name,
        description=agent.description,
        category=agent.category,
        specialties=", ".join(agent.specialties),
        level=str(agent.maturity_level),
        supervisor=supervisor.display_name if supervisor else "—",
        supervisor_choice=_choice(agent, supervisor),
        needs_supervisor=agent_service.needs_supervisor(agent, supervisor),
        can_supervise=agent.can_supervise,
        enabled=agent.is_enabled,
        key_hint=agent.api_key_hint,
    )


def _choice(agent: AgentRead, supervisor: UserRead | None) -> str:
    """The supervisor select's value; "" (its placeholder) when the current one may not
    supervise and so is not among the choices."""
    if agent.supervisor_id is None:
        return NO_SUPERVISOR
    return str(agent.supervisor_id) if supervisor and supervisor.may_supervise else ""


@dataclass
class LevelChange:
    agent_id: int = 0
    name: str = ""
    level: str = ""
    effect: str = ""


class AgentsState(rx.State):
    level_change: LevelChange = LevelChange()
    rows: list[AgentRow] = []
    supervisors: list[SupervisorOption] = []
    form_error: str = ""
    create_open: bool = False
    new_level: str = "INTERN"
    new_supervisor: str = NO_SUPERVISOR
    shown_key: str = ""
    shown_secret: str = ""
    shown_key_agent: str = ""
    loaded: bool = False

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        supervisor_filter = user.id if user.role == "supervisor" else None

        def fetch(session):
            users = user_service.list_users(session=session)
            agents = agent_service.list_agents(session=session, supervisor_id=supervisor_filter)
            return users, agents

        users, agents = await data.read(fetch)
        by_id = {u.id: u for u in users}
        self.rows = [_row(a, by_id) for a in agents]
        self.supervisors = [
            SupervisorOption(
                id=str(u.id), label=f"{u.display_name} ({u.role})", name=u.display_name
            )
            for u in users
            if u.may_supervise
        ]
        self.loaded = True

    @rx.event
    def open_create(self):
        self.form_error = ""
        self.new_level = "INTERN"
        self.new_supervisor = NO_SUPERVISOR
        self.create_open = True

    @rx.event
    def set_create_open(self, value: bool):
        self.create_open = value

    @rx.event
    def set_new_level(self, value: str):
        self.new_level = value

    @rx.event
    def set_new_supervisor(self, value: str):
        self.new_supervisor = value

    @rx.event
    def hide_key(self):
        self.shown_key = ""
        self.shown_secret = ""
        self.shown_key_agent = ""

    async def _admin(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None or not user.is_admin:
            return None
        return user

    def _show(self, credentials: AgentCredentials) -> None:
        self.shown_key = credentials.api_key
        self.shown_secret = credentials.webhook_secret
        self.shown_key_agent = credentials.agent.name

    @rx.event
    async def create(self, form: dict[str, str]):
        admin = await self._admin()
        if admin is None:
            yield rx.toast.error("Only admins can register agents.")
            return
        supervisor = self.new_supervisor
        try:
            credentials = await data.write(
                lambda session: agent_service.create_agent(
                    session=session,
                    name=form.get("name", ""),
                    description=form.get("description", ""),
                    category=form.get("category", ""),
                    specialties=form.get("specialties", ""),
                    maturity_level=self.new_level,
                    supervisor_id=None if supervisor == NO_SUPERVISOR else int(supervisor),
                    can_supervise=form.get("can_supervise") == "on",
                    now=utcnow(),
                    actor=admin.as_actor(),
                )
            )
        except DomainError as error:
            self.form_error = data.sentence(error.message)
            return
        self.create_open = False
        self._show(credentials)
        yield AgentsState.load
        yield rx.toast.success(f"Agent {credentials.agent.name} registered.")

    @rx.event
    def ask_level(self, agent_id: int, name: str, level: str):
        """A new level is asked for: the dialog says what it will mean before it applies."""
        self.level_change = LevelChange(
            agent_id=agent_id, name=name, level=level, effect=LEVEL_EFFECTS.get(level, "")
        )

    @rx.event
    def keep_level(self):
        self.level_change = LevelChange()

    @rx.event
    async def confirm_level(self):
        change, self.level_change = self.level_change, LevelChange()
        if change.agent_id:
            return await self.change_level(change.agent_id, change.level)

    @rx.event
    async def change_level(self, agent_id: int, level: str):
        return await self._update(agent_id, f"Level changed to {level}.", maturity_level=level)

    @rx.event
    async def change_supervisor(self, agent_id: int, choice: str):
        supervisor_id = None if choice == NO_SUPERVISOR else int(choice)
        return await self._update(
            agent_id,
            "Supervisor changed; the agent's waiting proposals and queued work follow.",
            supervisor_id=supervisor_id,
        )

    @rx.event
    async def set_enabled(self, agent_id: int, enabled: bool):
        return await self._update(
            agent_id, "Agent enabled." if enabled else "Agent disabled.", is_enabled=enabled
        )

    async def _update(self, agent_id: int, message: str, **changes: object):
        admin = await self._admin()
        if admin is None:
            return rx.toast.error("Only admins can change agents.")
        try:
            await data.write(
                lambda session: agent_service.update_agent(
                    session=session,
                    agent_id=agent_id,
                    now=utcnow(),
                    actor=admin.as_actor(),
                    **changes,
                )
            )
        except DomainError as error:
            return rx.toast.error(data.sentence(error.message))
        await self.load()
        return rx.toast.success(message)

    @rx.event
    async def rotate_key(self, agent_id: int):
        admin = await self._admin()
        if admin is None:
            return rx.toast.error("Only admins can rotate keys.")
        credentials = await data.write(
            lambda session: agent_service.rotate_agent_key(
                session=session, agent_id=agent_id, now=utcnow(), actor=admin.as_actor()
            )
        )
        self._show(credentials)
        await self.load()


def _labelled(label: str, control: rx.Component) -> rx.Component:
    """A field under its label; the label element wraps the control, so the field is named by
    it (a placeholder is no name: it goes when typing starts)."""
    return rx.el.label(
        rx.vstack(rx.text(label, size="2", weight="medium"), control, spacing="1", width="100%"),
        width="100%",
    )


def _create_dialog() -> rx.Component:
    """The button opens the dialog through the state (a dialog trigger would wrap it in a
    div that carries the button's ARIA attributes)."""
    return rx.fragment(
        rx.button(rx.icon("plus", size=16), "New agent", on_click=AgentsState.open_create),
        _create_dialog_body(),
    )


def _create_dialog_body() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Register an agent"),
            rx.form(
                rx.vstack(
                    rx.cond(
                        AgentsState.form_error != "",
                        rx.callout(
                            AgentsState.form_error,
                            icon="triangle-alert",
                            color_scheme="red",
                            role="alert",
                        ),
                    ),
                    _labelled(
                        "Name",
                        rx.input(
                            name="name", placeholder="billing-bot", required=True, width="100%"
                        ),
                    ),
                    _labelled(
                        "Description",
                        rx.text_area(name="description", placeholder="What it does", width="100%"),
                    ),
                    _labelled(
                        "Category",
                        rx.input(
                            name="category", placeholder="finance", required=True, width="100%"
                        ),
                    ),
                    _labelled(
                        "Specialties (comma-separated)",
                        rx.input(
                            name="specialties", placeholder="invoices, payments", width="100%"
                        ),
                    ),
                    _labelled(
                        "Maturity level",
                        rx.select.root(
                            rx.select.trigger(width="100%", aria_label="Maturity level"),
                            rx.select.content(
                                *[rx.select.item(level, value=level) for level in LEVELS]
                            ),
                            value=AgentsState.new_level,
                            on_change=AgentsState.set_new_level,
                        ),
                    ),
                    _labelled(
                        "Human supervisor",
                        rx.select.root(
                            rx.select.trigger(width="100%", aria_label="Human supervisor"),
                            rx.select.content(
                                rx.select.item("No supervisor", value=NO_SUPERVISOR),
                                rx.foreach(
                                    AgentsState.supervisors,
                                    lambda option: rx.select.item(option.label, value=option.id),
                                ),
                            ),
                            value=AgentsState.new_supervisor,
                            on_change=AgentsState.set_new_supervisor,
                        ),
                    ),
                    rx.checkbox(
                        "May supervise other agents (AUTONOMOUS only)", name="can_supervise"
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button("Register agent", type="submit"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=AgentsState.create,
                reset_on_submit=False,
            ),
        ),
        open=AgentsState.create_open,
        on_open_change=AgentsState.set_create_open,
    )


def _key_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("API key for ", AgentsState.shown_key_agent),
            rx.dialog.description(
                "Copy it now: it is shown only once and stored only as a hash. "
                "The webhook secret signs callback notifications (header X-Supervision-Signature)."
            ),
            rx.vstack(
                rx.text("API key", size="2", weight="medium"),
                rx.hstack(
                    rx.code(
                        AgentsState.shown_key, id="new-api-key", size="2", word_break="break-all"
                    ),
                    rx.icon_button(
                        rx.icon("copy", size=14),
                        size="1",
                        variant="soft",
                        on_click=rx.set_clipboard(AgentsState.shown_key),
                        aria_label="Copy API key",
                    ),
                    align="center",
                ),
                rx.text("Webhook secret", size="2", weight="medium"),
                rx.code(AgentsState.shown_secret, size="2", word_break="break-all"),
                rx.hstack(
                    rx.button("I have stored it", on_click=AgentsState.hide_key),
                    justify="end",
                    width="100%",
                ),
                spacing="2",
                padding_top="1em",
            ),
        ),
        open=AgentsState.shown_key != "",
    )


def _admin_controls(row: AgentRow) -> rx.Component:
    return rx.hstack(
        rx.select.root(
            rx.select.trigger(aria_label="Change level of " + row.name),
            rx.select.content(*[rx.select.item(level, value=level) for level in LEVELS]),
            value=row.level,
            on_change=lambda level: AgentsState.ask_level(row.id, row.name, level),
            size="1",
        ),
        confirm_button(
            "Rotate key",
            title="Rotate " + row.name + "'s key?",
            says="Its current key and webhook secret stop working at once: the agent is "
            "refused until it is given the new key, which is shown once.",
            on_confirm=AgentsState.rotate_key(row.id),
            confirm_label="Rotate key",
            color_scheme="amber",
        ),
        rx.cond(
            row.enabled,
            confirm_button(
                "Disable",
                title="Disable " + row.name + "?",
                says="Every request it makes is refused until it is enabled again.",
                on_confirm=AgentsState.set_enabled(row.id, False),
                confirm_label="Disable",
            ),
            rx.button(
                "Enable",
                size="1",
                variant="soft",
                color_scheme="green",
                on_click=AgentsState.set_enabled(row.id, True),
            ),
        ),
        spacing="2",
    )


AGENT_COLUMNS = ["Agent", "Category", "Level", "Supervisor", "Status", "Key", "Manage"]


def _agent_row(row: AgentRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.link(row.name, href="/history/" + row.id.to_string(), weight="medium"),
                rx.text(row.description, size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.text(row.category),
                rx.text(row.specialties, size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.hstack(
                level_badge(row.level),
                rx.cond(row.can_supervise, rx.badge("supervisor", variant="outline")),
            )
        ),
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    AuthState.is_admin,
                    rx.select.root(
                        rx.select.trigger(
                            placeholder="Choose a supervisor",
                            aria_label="Supervisor of " + row.name,
                        ),
                        rx.select.content(
                            rx.select.item("No supervisor", value=NO_SUPERVISOR),
                            rx.foreach(
                                AgentsState.supervisors,
                                lambda option: rx.select.item(option.name, value=option.id),
                            ),
                        ),
                        value=row.supervisor_choice,
                        on_change=lambda choice: AgentsState.change_supervisor(row.id, choice),
                        size="1",
                    ),
                    rx.text(row.supervisor),
                ),
                rx.cond(
                    row.needs_supervisor,
                    rx.tooltip(
                        rx.badge("needs a supervisor", color_scheme="red", variant="soft"),
                        content="Its supervisor is missing, deactivated or a viewer: its "
                        "proposals and supervised work only wait. An admin assigns another here.",
                    ),
                ),
                wrap="wrap",
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.cond(
                row.enabled,
                rx.badge("enabled", color_scheme="green"),
                rx.badge("disabled", color_scheme="red"),
            )
        ),
        rx.table.cell(rx.code(row.key_hint, size="1")),
        rx.cond(AuthState.is_admin, rx.table.cell(_admin_controls(row))),
        data_testid="agent-row",
    )


def _level_dialog() -> rx.Component:
    change = AgentsState.level_change
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Make " + change.name + " " + change.level + "?"),
            rx.alert_dialog.description("From now on " + change.effect),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button(
                        "Keep as it is",
                        variant="soft",
                        color_scheme="gray",
                        on_click=AgentsState.keep_level,
                    )
                ),
                rx.alert_dialog.action(
                    rx.button("Change level", on_click=AgentsState.confirm_level)
                ),
                justify="end",
                spacing="2",
                margin_top="1em",
            ),
            max_width="28em",
        ),
        open=change.agent_id > 0,
    )


def agents_page() -> rx.Component:
    return dashboard_page(
        "Agents",
        _level_dialog(),
        rx.hstack(
            rx.text(
                "Agents and their maturity level decide what happens when they ask to act.",
                color_scheme="gray",
                size="2",
            ),
            rx.spacer(),
            rx.cond(AuthState.is_admin, _create_dialog()),
            width="100%",
            align="center",
            wrap="wrap",  # a phone puts "New agent" under the sentence
        ),
        _key_dialog(),
        rx.cond(
            AgentsState.rows.length() > 0,
            rx.box(
                card_table(
                    rx.table.header(
                        rx.table.row(
                            *[rx.table.column_header_cell(h) for h in AGENT_COLUMNS[:-1]],
                            rx.cond(AuthState.is_admin, rx.table.column_header_cell("Manage")),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            AgentsState.rows, lambda a: labelled(_agent_row(a), AGENT_COLUMNS)
                        )
                    ),
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
            ),
            rx.cond(
                AgentsState.loaded,
                empty_state(
                    "bot",
                    "No agents yet",
                    "Register an agent with “New agent” (admins), or from the command line: "
                    "python -m supervision_app.cli create-agent. Its API key is shown once.",
                ),
                rx.center(rx.spinner()),
            ),
        ),
    )
