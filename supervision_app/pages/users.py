"""Users screen (admins): the team, their roles, and new accounts."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from models import UserRole
from services import users as user_service
from services.clock import utcnow
from services.errors import DomainError
from supervision_app.components.card_table import card_table, labelled
from supervision_app.components.confirm import confirm_button
from supervision_app.components.fields import select_field
from supervision_app.components.layout import dashboard_page
from supervision_app.components.timefmt import day
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone

ROLES = [role.value for role in UserRole]


@dataclass
class UserRow:
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    created: str


class UsersState(rx.State):
    rows: list[UserRow] = []
    form_error: str = ""
    new_role: str = "supervisor"

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None or not user.is_admin:
            return
        users = await data.read(lambda session: user_service.list_users(session=session))
        zone = viewer_zone(self)
        self.rows = [
            UserRow(
                id=u.id,
                username=u.username,
                display_name=u.display_name,
                role=str(u.role),
                active=u.is_active,
                created=day(u.created_at, zone),
            )
            for u in users
        ]

    @rx.event
    def set_new_role(self, value: str):
        self.new_role = value

    @rx.event
    async def create(self, form: dict[str, str]):
        auth = await self.get_state(AuthState)
        admin = await auth.current_user()
        if admin is None or not admin.is_admin:
            return rx.toast.error("Only admins can add users.")
        role = self.new_role
        try:
            created = await data.write(
                lambda session: user_service.create_user(
                    session=session,
                    username=form.get("username", ""),
                    display_name=form.get("display_name") or None,
                    password=form.get("password", ""),
                    role=role,
                    now=utcnow(),
                    actor=admin.as_actor(),
                )
            )
        except DomainError as error:
            self.form_error = data.sentence(error.message)
            return
        self.form_error = ""
        await self.load()
        return rx.toast.success(f"User {created.username} created as {created.role}.")

    @rx.event
    async def set_active(self, user_id: int, active: bool):
        auth = await self.get_state(AuthState)
        admin = await auth.current_user()
        if admin is None or not admin.is_admin:
            return rx.toast.error("Only admins can change users.")
        if user_id == admin.id and not active:
            return rx.toast.error("You cannot deactivate yourself.")
        await data.write(
            lambda session: user_service.update_user(
                session=session,
                user_id=user_id,
                is_active=active,
                now=utcnow(),
                actor=admin.as_actor(),
            )
        )
        await self.load()


def _create_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Add a user", size="3"),
                rx.cond(
                    UsersState.form_error != "",
                    rx.callout(
                        UsersState.form_error,
                        icon="triangle-alert",
                        color_scheme="red",
                        role="alert",
                    ),
                ),
                rx.flex(
                    rx.input(
                        name="username",
                        placeholder="Username",
                        required=True,
                        aria_label="Username",
                    ),
                    rx.input(
                        name="display_name", placeholder="Display name", aria_label="Display name"
                    ),
                    rx.input(
                        name="password",
                        type="password",
                        placeholder="Password (8+ characters)",
                        required=True,
                        aria_label="Password",
                    ),
                    select_field(
                        ROLES,
                        value=UsersState.new_role,
                        on_change=UsersState.set_new_role,
                        label="Role",
                    ),
                    rx.button("Add user", type="submit"),
                    spacing="2",
                    wrap="wrap",
                ),
                spacing="3",
            ),
            on_submit=UsersState.create,
            reset_on_submit=True,
        ),
        width="100%",
    )


USER_COLUMNS = ["Name", "Username", "Role", "Status", "Since", ""]


def _user_row(row: UserRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.display_name, weight="medium")),
        rx.table.cell(row.username),
        rx.table.cell(rx.badge(row.role, variant="outline")),
        rx.table.cell(
            rx.cond(
                row.active,
                rx.badge("active", color_scheme="green"),
                rx.badge("inactive", color_scheme="gray"),
            )
        ),
        rx.table.cell(row.created),
        rx.table.cell(
            rx.cond(
                row.active,
                confirm_button(
                    "Deactivate",
                    title="Deactivate " + row.username + "?",
                    says="They are signed out everywhere and cannot sign in. Their agents' "
                    "waiting work stays until someone else supervises those agents.",
                    on_confirm=UsersState.set_active(row.id, False),
                    confirm_label="Deactivate",
                ),
                rx.button(
                    "Activate",
                    size="1",
                    variant="soft",
                    on_click=UsersState.set_active(row.id, True),
                ),
            )
        ),
    )


def users_page() -> rx.Component:
    return dashboard_page(
        "Users",
        rx.cond(
            AuthState.is_admin,
            rx.vstack(
                _create_form(),
                card_table(
                    rx.table.header(
                        rx.table.row(*[rx.table.column_header_cell(h) for h in USER_COLUMNS])
                    ),
                    rx.table.body(
                        rx.foreach(UsersState.rows, lambda u: labelled(_user_row(u), USER_COLUMNS))
                    ),
                    width="100%",
                ),
                width="100%",
                spacing="4",
            ),
            rx.callout("Only admins manage users.", icon="lock"),
        ),
    )
