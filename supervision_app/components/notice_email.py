"""'Notices by e-mail': where the notices of proposals that ask me go (Team presence)."""

from __future__ import annotations

import reflex as rx

from services import notice_channels
from services.clock import utcnow
from services.errors import DomainError
from supervision_app.states import data
from supervision_app.states.auth import AuthState


class NoticeEmailState(rx.State):
    email: str = ""
    saved: str = ""
    error: str = ""
    may_decide: bool = False

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        self.may_decide = user.may_supervise
        self.saved = (
            await data.read(
                lambda session: notice_channels.email_of(session=session, user_id=user.id)
            )
            or ""
        )
        self.email, self.error = self.saved, ""

    @rx.event
    def set_email(self, value: str):
        self.email = value

    @rx.event
    async def save(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        address = self.email
        try:
            saved = await data.write(
                lambda session: notice_channels.set_my_email(
                    session=session, caller=user, user_id=user.id, email=address, now=utcnow()
                )
            )
        except DomainError as error:
            self.error = data.sentence(error.message)
            return
        self.saved, self.email, self.error = saved or "", saved or "", ""
        return rx.toast.success(
            f"Notices go to {saved}." if saved else "No more notices by e-mail."
        )


def notice_email_card() -> rx.Component:
    return rx.cond(
        NoticeEmailState.may_decide,
        rx.card(
            rx.vstack(
                rx.heading("Notices by e-mail", size="3"),
                rx.text(
                    "When a proposal asks you, an e-mail with Approve and Reject links comes "
                    "here (if an admin set up an e-mail channel). Leave it empty for none.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.cond(
                    NoticeEmailState.error != "",
                    rx.callout(
                        NoticeEmailState.error,
                        icon="triangle-alert",
                        color_scheme="red",
                        role="alert",
                        id="notice-email-error",
                    ),
                ),
                rx.hstack(
                    rx.vstack(
                        rx.el.label("Your e-mail address", html_for="notice-email"),
                        rx.input(
                            id="notice-email",
                            type="email",
                            value=NoticeEmailState.email,
                            on_change=NoticeEmailState.set_email,
                            placeholder="you@example.com",
                            max_length=254,
                            width="18em",
                            max_width="100%",
                        ),
                    ),
                    rx.button("Save", on_click=NoticeEmailState.save),
                    wrap="wrap",
                    align="end",
                    spacing="3",
                ),
                spacing="2",
                width="100%",
            ),
            width="100%",
            max_width="40em",
            data_testid="notice-email-card",
        ),
    )
