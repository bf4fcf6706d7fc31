"""'While I am away': a supervisor names the delegate asked in their place between two dates
(and who then watches their supervised work), and ends it when back. On Team presence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import reflex as rx

from services import on_call
from services import users as user_service
from services.clock import utcnow
from services.errors import DomainError
from supervision_app.components.fields import select_field
from supervision_app.components.timefmt import clock_time, period
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone


@dataclass
class MyDelegationRow:
    id: int
    text: str  # "Riley stands in for you, 2026-12-03 00:00 UTC – 2026-12-06 00:00 UTC"
    mine: bool  # I named it (and may end it)


def day_span(first: str, last: str) -> tuple[datetime, datetime]:
    """Whole days in UTC, from the start of `first` to the end of `last` (YYYY-MM-DD)."""
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last) + timedelta(days=1)
    except (ValueError, OverflowError):
        raise ValueError("Give both days as dates.") from None
    return (
        datetime.combine(start, time(0), tzinfo=UTC),
        datetime.combine(end, time(0), tzinfo=UTC),
    )


class DelegateState(rx.State):
    rows: list[MyDelegationRow] = []
    people: list[str] = []
    delegate: str = ""
    first_day: str = ""
    last_day: str = ""
    error: str = ""
    may_delegate: bool = False
    _ids: dict[str, int] = {}

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        now = utcnow()
        self.may_delegate = user.may_supervise

        def read(session):  # noqa: ANN001, ANN202
            return (
                on_call.list_delegations(session=session, now=now, user_id=user.id),
                user_service.list_users(session=session),
            )

        delegations, users = await data.read(read)
        self._ids = {
            f"{u.display_name} ({u.username})": u.id
            for u in users
            if u.is_active and u.role != "viewer" and u.id != user.id
        }
        self.people = sorted(self._ids)
        zone = viewer_zone(self)
        self.rows = [
            MyDelegationRow(
                id=d.id,
                text=(
                    f"{d.delegate_name} stands in for you"
                    if d.user_id == user.id
                    else f"You stand in for {d.user_name}"
                )
                + f", {period(d.starts_at, d.ends_at, zone)}",
                mine=d.user_id == user.id,
            )
            for d in delegations
        ]
        if not self.first_day:
            self.first_day = self.last_day = now.date().isoformat()

    @rx.event
    def set_delegate(self, value: str):
        self.delegate = value

    @rx.event
    def set_first_day(self, value: str):
        self.first_day = value

    @rx.event
    def set_last_day(self, value: str):
        self.last_day = value

    @rx.event
    async def save(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        delegate_id = self._ids.get(self.delegate)
        if delegate_id is None:
            self.error = "Choose who stands in for you."
            return
        try:
            starts, ends = day_span(self.first_day, self.last_day)
        except ValueError as error:
            self.error = str(error)
            return
        try:
            named = await data.write(
                lambda session: on_call.name_delegate(
                    session=session,
                    caller=user,
                    user_id=user.id,
                    delegate_id=delegate_id,
                    starts_at=starts,
                    ends_at=ends,
                    now=utcnow(),
                )
            )
        except DomainError as error:
            self.error = data.sentence(error.message)
            return
        self.error = ""
        await self.load()
        return rx.toast.success(
            f"{named.delegate_name} is asked in your place while you are away, until "
            f"{clock_time(named.ends_at, utcnow(), viewer_zone(self))}."
        )

    @rx.event
    async def end(self, delegation_id: int):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        try:
            await data.write(
                lambda session: on_call.end_delegation(
                    session=session, caller=user, delegation_id=delegation_id, now=utcnow()
                )
            )
        except DomainError as error:
            return rx.toast.error(data.sentence(error.message))
        await self.load()
        return rx.toast.success("Ended: you are asked yourself again.")


def _row(row: MyDelegationRow) -> rx.Component:
    return rx.hstack(
        rx.text(row.text, size="2"),
        rx.spacer(),
        rx.cond(
            row.mine,
            rx.button(
                "End now",
                size="1",
                variant="ghost",
                color_scheme="gray",
                on_click=DelegateState.end(row.id),
            ),
        ),
        width="100%",
        wrap="wrap",
        align="center",
        data_testid="my-delegation",
    )


def delegate_card() -> rx.Component:
    """Shown to supervisors and admins."""
    return rx.cond(
        DelegateState.may_delegate,
        rx.card(
            rx.vstack(
                rx.heading("While you are away", size="3"),
                rx.text(
                    "Name who is asked in your place about your agents' proposals between two "
                    "days (UTC), while you are not available; they also watch your supervised "
                    "work that would otherwise wait in your queue.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.foreach(DelegateState.rows, _row),
                rx.cond(
                    DelegateState.error != "",
                    rx.callout(
                        DelegateState.error,
                        icon="triangle-alert",
                        color_scheme="red",
                        role="alert",
                        id="delegate-error",
                    ),
                ),
                rx.hstack(
                    rx.vstack(
                        rx.el.label("Delegate", html_for="delegate-person"),
                        select_field(
                            DelegateState.people,
                            value=DelegateState.delegate,
                            on_change=DelegateState.set_delegate,
                            placeholder="Choose a person",
                            id="delegate-person",
                            label="Delegate",
                        ),
                    ),
                    rx.vstack(
                        rx.el.label("First day", html_for="delegate-first"),
                        rx.input(
                            id="delegate-first",
                            type="date",
                            value=DelegateState.first_day,
                            on_change=DelegateState.set_first_day,
                        ),
                    ),
                    rx.vstack(
                        rx.el.label("Last day", html_for="delegate-last"),
                        rx.input(
                            id="delegate-last",
                            type="date",
                            value=DelegateState.last_day,
                            on_change=DelegateState.set_last_day,
                        ),
                    ),
                    wrap="wrap",
                    spacing="3",
                    align="end",
                ),
                rx.button("Name delegate", on_click=DelegateState.save),
                spacing="2",
                width="100%",
            ),
            width="100%",
            max_width="40em",
            data_testid="delegate-card",
        ),
    )
