"""Proposals screen: review INTERN agents' requests; approve, reject, or approve modified."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

import reflex as rx

from services import agents as agent_service
from services import escalation, governance, proposals
from services.clock import utcnow
from services.errors import DomainError
from services.views import ProposalRead
from supervision_app.components.badges import risk_badge, status_badge
from supervision_app.components.fields import select_field
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.timefmt import clock_time
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone

ALL = "all"
# Below the width where list and detail sit side by side, the detail opens under the list:
# bring it into view (on a phone it would otherwise open a screen or more further down).
SHOW_DETAIL_ON_PHONES = (
    "window.matchMedia('(max-width: 767px)').matches && "
    "document.getElementById('proposal-detail')?.scrollIntoView({block: 'start'})"
)


@dataclass
class ProposalRow:
    id: int
    agent: str
    action: str
    reason: str
    risk: str
    status: str
    created: str
    expires: str


@dataclass
class HistoryRow:
    action: str
    decision: str
    at: str


def _row(p: ProposalRead, agents: dict[int, str], now: datetime, zone: tzinfo) -> ProposalRow:
    return ProposalRow(
        id=p.id,
        agent=agents.get(p.agent_id, "?"),
        action=p.action,
        reason=p.reason,
        risk=p.risk or "unreviewed",
        status=p.status,
        created=clock_time(p.created_at, now, zone),
        expires=clock_time(p.expires_at, now, zone),
    )


def _reviewer_label(review: dict) -> str:
    """Says plainly who reviewed: the LLM, or the rule-based reviewer standing in for it."""
    who = review.get("supervisor_name") or "no autonomous supervisor available"
    reviewer = review.get("reviewer")
    if reviewer == "rule-based reviewer":
        how = "rule-based reviewer (no LLM configured)"
    elif reviewer == "llm":
        how = f"LLM review ({review.get('model')})"
    else:
        how = "not reviewed"
    return f"{who} — {how}"


def escalation_sentence(proposal: ProposalRead, now: datetime, zone: tzinfo = UTC) -> str:
    """ "With Sam until 14:05 UTC, then their delegate …; if nobody decides: rejected." for a
    pending proposal; "" once decided."""
    if proposal.status != "pending":
        return ""
    shown = escalation.progress(
        chain=proposal.chain, step_kind=proposal.step_kind, hops=proposal.hops
    )
    return shown.sentence(clock_time(shown.until, now, zone) if shown.until else "")


def escalation_hops(proposal: ProposalRead, now: datetime, zone: tzinfo = UTC) -> list[str]:
    """Each hop as a line: when, to whom, what was skipped and why."""
    lines = []
    for hop in proposal.hops:
        at = datetime.fromisoformat(hop["at"])
        to = ", ".join(name for name in hop.get("to", []) if name) or hop.get("step", "")
        step = escalation.STEP_NAMES.get(hop.get("step"), hop.get("step"))
        line = f"{clock_time(at, now, zone)} · {step}"
        if hop.get("step") not in (escalation.WAITING, escalation.ENDED):
            line += f": {to}"
        if hop.get("cause") and hop.get("cause") != "new proposal":
            line += f" ({hop['cause']})"
        lines.append(line)
        lines.extend(f"    skipped {skip}" for skip in hop.get("skipped", []))
    return lines


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _diff(asked: str, approved: str) -> list[str]:
    """The parameters as asked against as approved, as a unified diff (one line of context)."""
    return list(
        difflib.unified_diff(
            asked.splitlines(), approved.splitlines(), "proposed", "approved", lineterm="", n=1
        )
    )


def _typed(reason: str, edited: str, original: str) -> str:
    """What this person had written into a decision that someone else made first."""
    parts = []
    if reason.strip():
        parts.append(f"Your reason: “{reason.strip()}”")
    if edited.strip() and edited.strip() != original.strip():
        parts.append(f"Your edited parameters: {edited.strip()}")
    return "  ".join(parts)


class ProposalsState(rx.State):
    rows: list[ProposalRow] = []
    status_filter: str = "pending"
    risk_filter: str = ALL
    agent_filter: str = ALL
    agent_options: list[str] = []
    loaded: bool = False
    selected_id: int = 0
    selected: ProposalRow | None = None
    parameters_json: str = ""
    review_lines: list[str] = []
    review_label: str = ""
    decision_note: str = ""
    history: list[HistoryRow] = []
    reject_reason: str = ""
    edited_json: str = ""
    edit_error: str = ""
    diff_lines: list[str] = []
    decided_line: str = ""  # who decided, when
    chain_line: str = ""  # who has it now, until when, and what comes next
    chain_hops: list[str] = []
    approved_diff: list[str] = []  # what was approved, against what was asked
    run_id: int = 0
    kept_typing: str = ""  # decided elsewhere while this person was writing: what they wrote
    _agents: dict[str, int] = {}

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        status = None if self.status_filter == ALL else self.status_filter
        risk = None if self.risk_filter == ALL else self.risk_filter
        agent_id = self._agents.get(self.agent_filter) if self.agent_filter != ALL else None

        def fetch(session):  # noqa: ANN001, ANN202
            if user.role == "viewer":
                return [], agent_service.list_agents(session=session)
            items = proposals.list_proposals(
                session=session,
                supervisor_id=None if user.is_admin else user.id,
                status=status,
                risk=risk,
                agent_id=agent_id,
                limit=100,
                now=utcnow(),
            )
            return items, agent_service.list_agents(session=session)

        items, agents = await data.read(fetch)
        names = {a.id: a.name for a in agents}
        self._agents = {a.name: a.id for a in agents}
        self.agent_options = [ALL, *sorted(self._agents)]
        now, zone = utcnow(), viewer_zone(self)
        self.rows = [_row(p, names, now, zone) for p in items]
        self.loaded = True
        if self.selected_id:
            await self._load_detail(self.selected_id)

    async def _load_detail(self, proposal_id: int) -> None:
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return

        def fetch(session):  # noqa: ANN001, ANN202
            proposal = proposals.get_proposal(
                session=session, proposal_id=proposal_id, caller=user, now=utcnow()
            )
            agent = agent_service.get_agent(session=session, agent_id=proposal.agent_id)
            history = governance.recent_decisions(session=session, agent_id=agent.id, limit=8)
            return (
                proposal,
                agent,
                history,
                proposals.decider_name(session=session, proposal=proposal),
            )

        try:
            proposal, agent, history, decider = await data.read(fetch)
        except DomainError:
            self.selected_id, self.selected = 0, None
            return
        was_pending = self.selected is not None and self.selected.status == "pending"
        if was_pending and proposal.status != "pending" and self.selected_id == proposal.id:
            self.kept_typing = _typed(self.reject_reason, self.edited_json, self.parameters_json)
        self._show_decision(proposal, decider)
        self.selected_id = proposal.id
        self.selected = _row(proposal, {agent.id: agent.name}, utcnow(), viewer_zone(self))
        self.parameters_json = _pretty(proposal.parameters)
        if not self.edited_json:
            self.edited_json = self.parameters_json
        review = proposal.review or {}
        if review:
            self.review_label = _reviewer_label(review)
            self.review_lines = [
                f"Decision: {review.get('decision')} (confidence {review.get('confidence')})",
                f"Risk: {review.get('risk')}",
                *[f"• {r}" for r in review.get("reasons", [])],
                *([f"Error: {review['error']}"] if review.get("error") else []),
                *([f"Selection: {review['selection']}"] if review.get("selection") else []),
            ]
        else:
            self.review_label, self.review_lines = "", []
        self.decision_note = proposal.decision_reason or ""
        now, zone = utcnow(), viewer_zone(self)
        self.chain_line = escalation_sentence(proposal, now, zone)
        self.chain_hops = escalation_hops(proposal, now, zone)
        self.history = [
            HistoryRow(
                action=h.action, decision=str(h.decision), at=clock_time(h.created_at, now, zone)
            )
            for h in history
        ]

    @rx.event
    async def open_from_link(self):
        """On arriving at /proposals?proposal=ID (Needs you's Edit, `e`): open that one."""
        asked = self.router.page.params.get("proposal", "")
        if asked.isdigit():
            return await self.select(int(asked))

    def _show_decision(self, proposal: ProposalRead, decider: str) -> None:
        if proposal.status == "pending":
            self.decided_line, self.approved_diff, self.run_id = "", [], 0
            return
        when = (
            clock_time(proposal.decided_at, utcnow(), viewer_zone(self))
            if proposal.decided_at
            else ""
        )
        self.decided_line = (
            f"{str(proposal.status).capitalize()}"
            + (f" by {decider}" if decider else "")
            + (f" at {when}" if when else "")
        )
        approved = proposal.approved_parameters
        self.approved_diff = (
            _diff(self.parameters_json, _pretty(approved)) if approved is not None else []
        )
        self.run_id = proposal.execution_id or 0

    @rx.event
    async def select(self, proposal_id: int):
        self.kept_typing = ""
        self.edited_json = ""
        self.edit_error = ""
        self.diff_lines = []
        self.reject_reason = ""
        await self._load_detail(proposal_id)
        if self.selected_id:
            return rx.call_script(SHOW_DETAIL_ON_PHONES)

    @rx.event
    def close(self):
        self.selected_id, self.selected = 0, None

    @rx.event
    async def set_status_filter(self, value: str):
        self.status_filter = value
        await self.load()

    @rx.event
    async def set_risk_filter(self, value: str):
        self.risk_filter = value
        await self.load()

    @rx.event
    async def set_agent_filter(self, value: str):
        self.agent_filter = value
        await self.load()

    @rx.event
    def set_reject_reason(self, value: str):
        self.reject_reason = value
        self._keep_if_decided()

    def _keep_if_decided(self) -> None:
        """Typing that reaches us after someone else decided (a field sends its text a
        moment after the keys): keep it where the decision notice shows it."""
        if self.selected is not None and self.selected.status != "pending" and self.decided_line:
            self.kept_typing = _typed(self.reject_reason, self.edited_json, self.parameters_json)

    @rx.event
    def set_edited_json(self, value: str):
        self.edited_json = value
        self._keep_if_decided()
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as error:
            self.edit_error = (
                f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
            )
            self.diff_lines = []
            return
        if not isinstance(parsed, dict):
            self.edit_error = "Parameters must be a JSON object ({...})."
            self.diff_lines = []
            return
        self.edit_error = ""
        self.diff_lines = _diff(self.parameters_json, _pretty(parsed))

    async def _decide(self, action):  # noqa: ANN001, ANN202
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return None, "Sign in again."
        try:
            return await data.write(lambda session: action(session, user)), None
        except DomainError as error:
            return None, error.message

    @rx.event
    async def approve(self, modified: bool = False):
        parameters = None
        if modified:
            if self.edit_error:
                return rx.toast.error("Fix the parameters first: " + self.edit_error)
            parameters = json.loads(self.edited_json)
        proposal_id = self.selected_id
        _, error = await self._decide(
            lambda session, user: proposals.approve_proposal(
                session=session,
                proposal_id=proposal_id,
                caller=user,
                now=utcnow(),
                modified_parameters=parameters,
            )
        )
        if error:
            await self.load()  # says who decided first, keeping what was typed
            return rx.toast.error(f"Could not approve: {error}")
        self.edited_json, self.reject_reason = "", ""  # sent: nothing typed is left over
        await self.load()
        return rx.toast.success(
            "Approved: the agent can start." + (" (modified parameters)" if modified else "")
        )

    @rx.event
    async def reject(self):
        if not self.reject_reason.strip():
            return rx.toast.error("Say why you reject it: the agent is told.")
        proposal_id, reason = self.selected_id, self.reject_reason
        _, error = await self._decide(
            lambda session, user: proposals.reject_proposal(
                session=session, proposal_id=proposal_id, caller=user, reason=reason, now=utcnow()
            )
        )
        if error:
            await self.load()  # says who decided first, keeping what was typed
            return rx.toast.error(f"Could not reject: {error}")
        self.edited_json, self.reject_reason = "", ""
        await self.load()
        return rx.toast.success("Rejected; the agent is told why.")


def _filters() -> rx.Component:
    return rx.flex(
        select_field(
            ["pending", "approved", "rejected", "expired", "withdrawn", ALL],
            value=ProposalsState.status_filter,
            on_change=ProposalsState.set_status_filter,
            label="Status",
        ),
        select_field(
            [ALL, "safe", "medium", "high"],
            value=ProposalsState.risk_filter,
            on_change=ProposalsState.set_risk_filter,
            label="Risk",
        ),
        select_field(
            ProposalsState.agent_options,
            value=ProposalsState.agent_filter,
            on_change=ProposalsState.set_agent_filter,
            label="Agent",
        ),
        spacing="2",
        wrap="wrap",
    )


def _card(row: ProposalRow) -> rx.Component:
    """A card that is a real button: Tab reaches it, Enter and Space open it."""
    selected = ProposalsState.selected_id == row.id
    return rx.el.button(
        _card_body(row),
        type="button",
        on_click=ProposalsState.select(row.id),
        aria_current=rx.cond(selected, "true", "false"),
        data_testid="proposal-card",
        text_align="left",
        font="inherit",
        color="inherit",
        cursor="pointer",
        width="100%",
        min_width="0",
        overflow_wrap="anywhere",
        padding="var(--space-3)",
        border=f"1px solid {rx.color('gray', 6)}",
        border_radius="var(--radius-4)",
        background=rx.cond(selected, rx.color("accent", 3), rx.color("gray", 1)),
    )


def _card_body(row: ProposalRow) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.code(row.action, weight="bold"),
            rx.spacer(),
            risk_badge(row.risk),
            status_badge(row.status),
            width="100%",
            align="center",
        ),
        rx.text(row.agent, size="2", weight="medium"),
        rx.text(
            row.reason,
            size="2",
            color_scheme="gray",
            trim="both",
            max_height="3em",
            overflow="hidden",
        ),
        rx.text(row.created, size="1", color_scheme="gray"),
        spacing="1",
        width="100%",
    )


def _diff_lines(lines: rx.Var) -> rx.Component:
    """A unified diff of parameters: added lines green, removed red, context grey."""
    return rx.foreach(
        lines,
        lambda line: rx.text(
            line,
            font_family="monospace",
            size="1",
            white_space="pre",
            color=rx.cond(
                line.startswith("+"),
                rx.color("grass", 11),
                rx.cond(line.startswith("-"), rx.color("red", 11), rx.color("gray", 11)),
            ),
        ),
    )


def _detail() -> rx.Component:
    selected = ProposalsState.selected
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(selected.action, size="4"),
                rx.spacer(),
                risk_badge(selected.risk),
                status_badge(selected.status),
                rx.icon_button(
                    rx.icon("x", size=14),
                    variant="ghost",
                    on_click=ProposalsState.close,
                    aria_label="Close",
                ),
                width="100%",
                align="center",
            ),
            rx.text(
                "From ", rx.text.strong(selected.agent), " · expires ", selected.expires, size="2"
            ),
            rx.cond(
                ProposalsState.chain_line != "",
                rx.hstack(
                    rx.icon("route", size=16, flex_shrink="0", margin_top="2px"),
                    rx.text(ProposalsState.chain_line, size="2", data_testid="chain-line"),
                    spacing="2",
                    align="start",
                ),
            ),
            rx.cond(
                ProposalsState.chain_hops.length() > 0,
                rx.el.details(
                    rx.el.summary(rx.text("Who was asked", size="1", as_="span")),
                    rx.foreach(
                        ProposalsState.chain_hops,
                        lambda line: rx.text(line, size="1", white_space="pre-wrap"),
                    ),
                    data_testid="chain-hops",
                ),
            ),
            rx.text("Reason", weight="medium", size="2"),
            rx.blockquote(selected.reason, size="2"),
            rx.text("Parameters", weight="medium", size="2"),
            rx.code_block(
                ProposalsState.parameters_json, language="json", width="100%", font_size="12px"
            ),
            rx.cond(
                ProposalsState.review_label != "",
                rx.callout.root(
                    rx.callout.icon(rx.icon("bot")),
                    rx.callout.text(
                        rx.text.strong("Autonomous review: "), ProposalsState.review_label
                    ),
                    rx.foreach(
                        ProposalsState.review_lines, lambda line: rx.callout.text(line, size="1")
                    ),
                    color_scheme="purple",
                    width="100%",
                ),
            ),
            rx.cond(
                ProposalsState.kept_typing != "",
                rx.callout(
                    "Decided before you: " + ProposalsState.decided_line + ". Nothing you "
                    "wrote was sent. " + ProposalsState.kept_typing,
                    icon="info",
                    color_scheme="amber",
                    width="100%",
                    data_testid="decided-elsewhere",
                ),
            ),
            rx.cond(
                ProposalsState.decided_line != "",
                rx.vstack(
                    rx.text(
                        ProposalsState.decided_line,
                        weight="medium",
                        size="2",
                        data_testid="decided-line",
                    ),
                    rx.cond(
                        ProposalsState.decision_note != "",
                        rx.text("Decision note: ", ProposalsState.decision_note, size="2"),
                    ),
                    rx.cond(
                        ProposalsState.approved_diff.length() > 0,
                        rx.box(
                            rx.text("Approved with changes", size="2", weight="medium"),
                            _diff_lines(ProposalsState.approved_diff),
                            width="100%",
                            data_testid="approved-diff",
                        ),
                    ),
                    rx.cond(
                        ProposalsState.run_id > 0,
                        rx.link(
                            "Open the run",
                            href="/runs/" + ProposalsState.run_id.to_string(),
                            size="2",
                        ),
                    ),
                    spacing="1",
                    width="100%",
                ),
            ),
            rx.cond(
                selected.status == "pending",
                rx.vstack(
                    rx.hstack(
                        rx.button(
                            rx.icon("check", size=14),
                            "Approve",
                            color_scheme="green",
                            on_click=ProposalsState.approve(False),
                        ),
                        rx.input(
                            placeholder="Reason for rejecting (sent to the agent)",
                            value=ProposalsState.reject_reason,
                            on_change=ProposalsState.set_reject_reason,
                            width="100%",
                            aria_label="Rejection reason",
                        ),
                        rx.button(
                            rx.icon("x", size=14),
                            "Reject",
                            color_scheme="red",
                            variant="soft",
                            on_click=ProposalsState.reject,
                        ),
                        width="100%",
                        wrap="wrap",
                    ),
                    rx.accordion.root(
                        rx.accordion.item(
                            header="Approve with modified parameters",
                            content=rx.vstack(
                                rx.text_area(
                                    value=ProposalsState.edited_json,
                                    on_change=ProposalsState.set_edited_json,
                                    rows="8",
                                    width="100%",
                                    font_family="monospace",
                                    aria_label="Modified parameters",
                                ),
                                rx.cond(
                                    ProposalsState.edit_error != "",
                                    rx.text(
                                        ProposalsState.edit_error,
                                        color_scheme="red",
                                        size="2",
                                        role="alert",
                                    ),
                                ),
                                rx.cond(
                                    ProposalsState.diff_lines.length() > 0,
                                    rx.box(
                                        _diff_lines(ProposalsState.diff_lines),
                                        width="100%",
                                        data_testid="parameters-diff",
                                    ),
                                ),
                                rx.button(
                                    "Approve modified",
                                    on_click=ProposalsState.approve(True),
                                    disabled=ProposalsState.edit_error != "",
                                ),
                                width="100%",
                            ),
                        ),
                        collapsible=True,
                        type="single",
                        variant="outline",
                        width="100%",
                    ),
                    width="100%",
                ),
            ),
            rx.text("Agent's recent requests", weight="medium", size="2"),
            rx.foreach(
                ProposalsState.history,
                lambda h: rx.hstack(
                    rx.text(h.at, size="1", color_scheme="gray"),
                    rx.code(h.action, size="1"),
                    rx.text(h.decision, size="1"),
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        id="proposal-detail",
    )


def proposals_page() -> rx.Component:
    return dashboard_page(
        "Proposals",
        _filters(),
        rx.flex(
            rx.vstack(
                rx.cond(
                    ProposalsState.rows.length() > 0,
                    rx.foreach(ProposalsState.rows, _card),
                    rx.cond(
                        AuthState.role == "viewer",
                        empty_state(
                            "eye",
                            "Proposals are for the people who decide them",
                            "As a viewer you follow the team's runs on Monitoring; each agent's "
                            "decisions are in its history (Agents).",
                            loaded=ProposalsState.loaded,
                        ),
                        empty_state(
                            "file-check",
                            "No proposals here",
                            "When an INTERN agent you supervise asks to act, "
                            "its request waits here for "
                            "your approval. Change the filters to see decided ones.",
                            loaded=ProposalsState.loaded,
                        ),
                    ),
                ),
                width=["100%", "100%", "45%"],
                spacing="2",
            ),
            rx.cond(
                ProposalsState.selected_id > 0, rx.box(_detail(), width=["100%", "100%", "55%"])
            ),
            direction=rx.breakpoints(initial="column", md="row"),
            spacing="4",
            width="100%",
            align="start",
        ),
    )
