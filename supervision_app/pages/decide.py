"""/decide/<token>: where a notice's Approve, Reject or Open link lands, on a phone as often
as not. Opening it shows what the link would do and changes nothing; the decision is the
button on this page (services/decision_links.py). A link that needs a sign-in sends its
reader to sign in first and back here after."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import reflex as rx

from services import decision_links
from services.clock import utcnow
from services.errors import DomainError
from supervision_app.components.badges import risk_badge
from supervision_app.states import data
from supervision_app.states.auth import AuthState

VERBS = {"approve": "Approve", "reject": "Reject", "open": "Open"}


class DecideState(rx.State):
    loaded: bool = False
    problem: str = ""  # why the link cannot be used; "" when it can
    done: str = ""  # what happened, once decided
    action: str = ""
    proposal_id: int = 0
    agent: str = ""
    proposal_action: str = ""
    parameters_json: str = ""
    reason: str = ""
    risk: str = ""
    signed_in_as: str = ""
    for_user: str = ""
    reject_reason: str = ""
    reason_error: str = ""
    busy: bool = False

    def _token(self) -> str:
        return self.router.page.params.get("token", "")

    @rx.event
    async def load(self):
        self.loaded, self.problem, self.done, self.reject_reason = False, "", "", ""
        self.reason_error, self.action = "", ""
        token, now = self._token(), utcnow()
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        self.signed_in_as = user.display_name if user else ""
        try:
            shown = await data.read(
                lambda session: decision_links.preview(
                    session=session, token=token, now=now, caller=user
                )
            )
        except DomainError as error:
            self.problem = data.sentence(error.message)
            self.loaded = True
            return
        if shown.requires_sign_in and user is None:
            asked = f"/decide/{token}"
            return rx.redirect(f"/login?{urlencode({'next': asked})}")
        if shown.action == "open":  # the proposal's own page: it says what became of it
            return rx.redirect(f"/proposals?proposal={shown.proposal_id}")
        self.action = shown.action
        self.proposal_id = shown.proposal_id
        self.agent = shown.agent
        self.proposal_action = shown.proposal_action
        self.parameters_json = json.dumps(shown.parameters, indent=2, sort_keys=True, default=str)
        self.reason = shown.reason
        self.risk = shown.risk
        self.for_user = shown.for_user
        self.loaded = True

    @rx.event
    def set_reject_reason(self, value: str):
        self.reject_reason = value
        self.reason_error = ""

    @rx.event
    async def confirm(self):
        if self.busy or self.done:
            return
        if self.action == "reject" and not self.reject_reason.strip():
            self.reason_error = "Say why you reject it: the agent is told."
            return
        self.busy = True
        yield
        token, reason = self._token(), self.reject_reason
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        try:
            decided = await data.write(
                lambda session: decision_links.use_link(
                    session=session, token=token, now=utcnow(), caller=user, reason=reason
                )
            )
        except DomainError as error:
            self.busy = False
            if error.field == "reason":  # the form stays, with what to fix beside it
                self.reason_error = data.sentence(error.message)
            else:
                self.problem = data.sentence(error.message)
            return
        self.busy = False
        self.done = (
            "Approved: the agent may start the run."
            if decided.status == "approved"
            else "Rejected: the agent is told why."
        )


def _summary() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(
                rx.cond(DecideState.action == "approve", "Approve", "Reject"),
                " ",
                rx.code(DecideState.proposal_action, style={"overflow_wrap": "anywhere"}),
                "?",
                size="5",
            ),
            risk_badge(DecideState.risk),
            wrap="wrap",
            align="center",
        ),
        rx.text(
            "Proposal ",
            DecideState.proposal_id.to_string(),
            " from ",
            rx.text.strong(DecideState.agent),
            size="2",
        ),
        rx.blockquote(DecideState.reason, size="2", style={"overflow_wrap": "anywhere"}),
        rx.code_block(
            DecideState.parameters_json,
            language="json",
            width="100%",
            font_size="12px",
            wrap_long_lines=True,  # a phone shows every value whole
        ),
        rx.text(
            rx.cond(
                DecideState.signed_in_as != "",
                "You decide as " + DecideState.signed_in_as + ".",
                "You decide as " + DecideState.for_user + ", to whom this link was sent.",
            ),
            size="1",
            color_scheme="gray",
        ),
        width="100%",
        spacing="3",
    )


def _confirm() -> rx.Component:
    return rx.cond(
        DecideState.action == "approve",
        rx.button(
            rx.icon("check"),
            "Approve",
            color_scheme="green",
            size="3",
            width="100%",
            loading=DecideState.busy,
            on_click=DecideState.confirm,
        ),
        rx.vstack(
            rx.el.label("Why reject it (the agent is told)", html_for="decide-reason"),
            rx.text_area(
                id="decide-reason",
                value=DecideState.reject_reason,
                on_change=DecideState.set_reject_reason,
                width="100%",
                max_length=2000,
            ),
            rx.cond(
                DecideState.reason_error != "",
                rx.text(
                    DecideState.reason_error,
                    color=rx.color("red", 11),
                    size="2",
                    role="alert",
                    id="decide-reason-error",
                ),
            ),
            rx.button(
                rx.icon("x"),
                "Reject",
                color_scheme="red",
                size="3",
                width="100%",
                loading=DecideState.busy,
                on_click=DecideState.confirm,
            ),
            width="100%",
        ),
    )


def decide_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("shield-check", size=24, color=rx.color("accent", 10)),
                    rx.heading("Agent supervision", size="4"),
                    align="center",
                ),
                rx.cond(
                    ~DecideState.loaded,
                    rx.center(rx.spinner(size="3"), height="20vh", width="100%"),
                    rx.cond(
                        DecideState.done != "",
                        rx.callout(
                            DecideState.done,
                            icon="circle-check",
                            color_scheme="green",
                            data_testid="decide-done",
                        ),
                        rx.vstack(
                            rx.cond(
                                DecideState.problem != "",
                                rx.callout(
                                    DecideState.problem,
                                    icon="triangle-alert",
                                    color_scheme="amber",
                                    role="alert",
                                    data_testid="decide-problem",
                                ),
                            ),
                            rx.cond(
                                (DecideState.problem == "") & (DecideState.action != ""),
                                rx.vstack(_summary(), _confirm(), width="100%", spacing="4"),
                            ),
                            width="100%",
                        ),
                    ),
                ),
                rx.link("Open the dashboard", href="/", size="2"),
                spacing="4",
                width="100%",
            ),
            width="100%",
            max_width="32em",
            size="3",
        ),
        min_height="100vh",
        padding="1em",
    )
