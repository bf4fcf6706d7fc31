"""Reviewers screen (admins): what the AI reviewer may approve, and whether it deserves to.

Per category, the allow-list the rule reviewer approves from (audited), and per reviewer its
record against the humans' decisions on the same proposals (services/reviewer_accountability).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

import reflex as rx

from services import review_allow_lists
from services import reviewer_accountability as accountability
from services.clock import utcnow
from services.errors import DomainError
from services.policy import review_policy
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.timefmt import clock_time
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone


@dataclass
class AllowRow:
    category: str
    allowed: str  # what it allows, in words
    patterns: str  # one per line, for the editor
    read_only_verbs: bool
    configured: bool
    updated: str


@dataclass
class ScoreRow:
    reviewer: str
    how: str  # "rules", or the model
    verdicts: int
    compared: int
    agreement: str
    approvals_rejected: int
    held_back_approved: int
    auto_approved: int
    last: str


@dataclass
class DisagreementRow:
    proposal_id: int
    action: str
    agent: str
    reviewer: str
    said: str
    human: str
    reason: str
    at: str
    shadow: bool


def _score_row(score: accountability.ReviewerScore, now: datetime, zone: tzinfo) -> ScoreRow:
    return ScoreRow(
        reviewer=score.reviewer_name,
        how=f"model {score.model}" if score.model else "rules",
        verdicts=score.verdicts,
        compared=score.compared,
        agreement="—" if score.agreement is None else f"{score.agreement:.0%}",
        approvals_rejected=score.approvals_rejected,
        held_back_approved=score.held_back_approved,
        auto_approved=score.auto_approved,
        last=clock_time(score.last_at, now, zone) if score.last_at else "",
    )


def _disagreement_row(
    item: accountability.Disagreement, now: datetime, zone: tzinfo
) -> DisagreementRow:
    said = "would approve" if item.would_approve else f"would not approve ({item.verdict})"
    return DisagreementRow(
        proposal_id=item.proposal_id,
        action=item.action,
        agent=item.agent_name,
        reviewer=item.reviewer_name,
        said=said,
        human=f"{item.human_name} {item.human_decision}",
        reason=item.reason[:160],
        at=clock_time(item.decided_at, now, zone) if item.decided_at else "",
        shadow=item.shadow,
    )


class ReviewersState(rx.State):
    allow_rows: list[AllowRow] = []
    score_rows: list[ScoreRow] = []
    disagreement_rows: list[DisagreementRow] = []
    edit_category: str = ""
    edit_patterns: str = ""
    edit_read_only: bool = True
    edit_error: str = ""
    loaded: bool = False

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None or not user.is_admin:
            return
        defaults = review_policy().safe_actions

        def read(session):
            return (
                review_allow_lists.list_allow_lists(session=session, default_patterns=defaults),
                accountability.reviewer_scores(session=session),
                accountability.latest_disagreements(session=session, limit=10),
            )

        lists, scores, disagreements = await data.read(read)
        now, zone = utcnow(), viewer_zone(self)
        self.allow_rows = [
            AllowRow(
                category=a.category,
                allowed=a.describe(),
                patterns="\n".join(a.patterns),
                read_only_verbs=a.read_only_verbs,
                configured=a.configured,
                updated=(
                    f"{clock_time(a.updated_at, now, zone)}"
                    + (f" by {a.updated_by}" if a.updated_by else "")
                    if a.updated_at
                    else ""
                ),
            )
            for a in lists
        ]
        self.score_rows = [_score_row(s, now, zone) for s in scores]
        self.disagreement_rows = [_disagreement_row(d, now, zone) for d in disagreements]
        self.loaded = True

    @rx.event
    def edit(self, category: str):
        row = next((r for r in self.allow_rows if r.category == category), None)
        self.edit_category = category
        self.edit_patterns = row.patterns if row else ""
        self.edit_read_only = row.read_only_verbs if row else True
        self.edit_error = ""

    @rx.event
    def set_edit_category(self, value: str):
        self.edit_category = value

    @rx.event
    def set_edit_patterns(self, value: str):
        self.edit_patterns = value

    @rx.event
    def set_edit_read_only(self, value: bool):
        self.edit_read_only = value

    @rx.event
    async def save(self):
        auth = await self.get_state(AuthState)
        admin = await auth.current_user()
        if admin is None or not admin.is_admin:
            return rx.toast.error("Only admins can change what the reviewer may approve.")
        category, patterns, read_only = (
            self.edit_category,
            self.edit_patterns.splitlines(),
            self.edit_read_only,
        )
        defaults = review_policy().safe_actions
        try:
            saved = await data.write(
                lambda session: review_allow_lists.set_allow_list(
                    session=session,
                    category=category,
                    patterns=patterns,
                    read_only_verbs=read_only,
                    default_patterns=defaults,
                    actor=admin.as_actor(),
                    now=utcnow(),
                )
            )
        except DomainError as error:
            self.edit_error = data.sentence(error.message)
            return
        self.edit_error = ""
        await self.load()
        return rx.toast.success(f"Allow-list of {saved.category}: {saved.describe()}.")

    @rx.event
    async def use_default(self, category: str):
        auth = await self.get_state(AuthState)
        admin = await auth.current_user()
        if admin is None or not admin.is_admin:
            return rx.toast.error("Only admins can change what the reviewer may approve.")
        defaults = review_policy().safe_actions
        await data.write(
            lambda session: review_allow_lists.reset_allow_list(
                session=session,
                category=category,
                default_patterns=defaults,
                actor=admin.as_actor(),
                now=utcnow(),
            )
        )
        if self.edit_category == category:
            self.edit_category = ""
        await self.load()
        return rx.toast.success(f"{category} uses the default allow-list again.")


def _editor() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Edit an allow-list", size="3"),
            rx.text(
                "The AI reviewer (the rules, or a model when LLM_MODEL is set) approves an "
                "INTERN's proposal only when its action matches "
                "one of these patterns (or is a read-only verb, when ticked) and no risk rule "
                "fires on the action, its parameters or its reason: a word that changes, "
                "deletes, pays, runs code or sends out still sends it to a human. One pattern "
                "per line, starting with at least 3 characters of the name, * and ? as "
                "wildcards: reports.summary*, crm.get_contact.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                ReviewersState.edit_error != "",
                rx.callout(
                    ReviewersState.edit_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    role="alert",
                    id="allow-list-error",
                ),
            ),
            rx.el.label("Category", html_for="allow-category", font_size="var(--font-size-2)"),
            rx.input(
                id="allow-category",
                value=ReviewersState.edit_category,
                on_change=ReviewersState.set_edit_category,
                placeholder="billing",
                max_length=60,
                width="100%",
            ),
            rx.el.label("Patterns", html_for="allow-patterns", font_size="var(--font-size-2)"),
            rx.text_area(
                id="allow-patterns",
                value=ReviewersState.edit_patterns,
                on_change=ReviewersState.set_edit_patterns,
                placeholder="reports.summary*\ncrm.get_contact",
                rows="5",
                width="100%",
            ),
            rx.checkbox(
                "Also the built-in read-only verbs (get…, list…, search…, read…)",
                checked=ReviewersState.edit_read_only,
                on_change=ReviewersState.set_edit_read_only,
                id="allow-read-only",
            ),
            rx.button(
                "Save allow-list",
                on_click=ReviewersState.save,
                disabled=ReviewersState.edit_category.strip() == "",
                id="allow-save",
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def _allow_row(row: AllowRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.category, weight="medium")),
        rx.table.cell(rx.text(row.allowed, size="2", style={"overflow_wrap": "anywhere"})),
        rx.table.cell(
            rx.cond(
                row.configured,
                rx.text(row.updated, size="1", color_scheme="gray"),
                rx.badge("default", variant="soft", color_scheme="gray"),
            )
        ),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    "Edit",
                    size="1",
                    variant="soft",
                    on_click=ReviewersState.edit(row.category),
                    aria_label="Edit the allow-list of " + row.category,
                ),
                rx.cond(
                    row.configured,
                    rx.button(
                        "Use default",
                        size="1",
                        variant="ghost",
                        color_scheme="gray",
                        on_click=ReviewersState.use_default(row.category),
                    ),
                ),
                spacing="2",
            )
        ),
    )


def _allow_lists() -> rx.Component:
    return rx.vstack(
        rx.heading("What the rule reviewer may approve", size="4"),
        rx.cond(
            ReviewersState.allow_rows.length() > 0,
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("Category", "Allows", "Changed", "")
                            ]
                        )
                    ),
                    rx.table.body(rx.foreach(ReviewersState.allow_rows, _allow_row)),
                    width="100%",
                    id="allow-lists",
                ),
                width="100%",
                overflow_x="auto",
            ),
            empty_state("list-checks", "No categories yet", "Categories come from agents."),
        ),
        _editor(),
        width="100%",
        spacing="3",
    )


def _score_row_view(row: ScoreRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.reviewer, weight="medium")),
        rx.table.cell(rx.text(row.how, size="2")),
        rx.table.cell(row.verdicts),
        rx.table.cell(row.compared),
        rx.table.cell(rx.text(row.agreement, weight="bold")),
        rx.table.cell(
            rx.cond(
                row.approvals_rejected > 0,
                rx.badge(row.approvals_rejected, color_scheme="red"),
                rx.text("0"),
            )
        ),
        rx.table.cell(row.held_back_approved),
        rx.table.cell(row.auto_approved),
        rx.table.cell(rx.text(row.last, size="1", color_scheme="gray")),
    )


def _score_card(row: ScoreRow) -> rx.Component:
    """The same record on a phone, where nine columns do not fit."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(row.reviewer, weight="medium"),
                rx.badge(row.how, variant="soft"),
                rx.spacer(),
                rx.text("agreed ", rx.text.strong(row.agreement), size="2"),
                width="100%",
                wrap="wrap",
            ),
            rx.text(
                row.verdicts,
                " verdicts, ",
                row.compared,
                " decided by a human too; would have approved what a human rejected: ",
                row.approvals_rejected,
                "; held back what a human approved: ",
                row.held_back_approved,
                "; approved alone: ",
                row.auto_approved,
                size="2",
                color_scheme="gray",
            ),
            spacing="1",
            width="100%",
        ),
        width="100%",
    )


def _scores() -> rx.Component:
    headers = (
        "Reviewer",
        "Judges by",
        "Verdicts",
        "Decided by a human too",
        "Agreed",
        "Would have approved, human rejected",
        "Held back, human approved",
        "Approved alone",
        "Last verdict",
    )
    return rx.vstack(
        rx.heading("Does the AI reviewer agree with you?", size="4"),
        rx.text(
            "Every proposal a human decides is also judged by the reviewer (a shadow review "
            "when it did not see it first), which changes nothing. Agreed: it would have "
            "approved what a human approved, or held back what a human rejected.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            ReviewersState.score_rows.length() > 0,
            rx.fragment(
                rx.box(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(*[rx.table.column_header_cell(h) for h in headers])
                        ),
                        rx.table.body(rx.foreach(ReviewersState.score_rows, _score_row_view)),
                        width="100%",
                        id="reviewer-scores",
                    ),
                    width="100%",
                    display=["none", "none", "block"],
                ),
                rx.vstack(
                    rx.foreach(ReviewersState.score_rows, _score_card),
                    width="100%",
                    spacing="2",
                    display=["flex", "flex", "none"],
                ),
            ),
            empty_state(
                "scale",
                "No verdicts yet",
                "They appear once an autonomous supervisor (an AUTONOMOUS agent allowed to "
                "supervise) has reviewed proposals, or shadow-reviewed ones you decided.",
            ),
        ),
        width="100%",
        spacing="3",
    )


def _disagreement(row: DisagreementRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Proposal #", row.proposal_id, " ", row.action, weight="medium"),
                rx.text("by ", row.agent, size="2", color_scheme="gray"),
                rx.cond(row.shadow, rx.badge("shadow review", variant="soft")),
                rx.spacer(),
                rx.text(row.at, size="1", color_scheme="gray"),
                wrap="wrap",
                spacing="2",
                width="100%",
            ),
            rx.text(row.reviewer, " ", row.said, "; ", row.human, size="2"),
            rx.text(row.reason, size="1", color_scheme="gray", style={"overflow_wrap": "anywhere"}),
            spacing="1",
            width="100%",
        ),
        width="100%",
    )


def _disagreements() -> rx.Component:
    return rx.vstack(
        rx.heading("Latest disagreements", size="4"),
        rx.cond(
            ReviewersState.disagreement_rows.length() > 0,
            rx.vstack(
                rx.foreach(ReviewersState.disagreement_rows, _disagreement),
                width="100%",
                spacing="2",
                id="disagreements",
            ),
            rx.text("None: the reviewer and the humans agree so far.", size="2"),
        ),
        width="100%",
        spacing="3",
    )


def reviewers_page() -> rx.Component:
    return dashboard_page(
        "Reviewers",
        rx.cond(
            AuthState.is_admin,
            rx.cond(
                ReviewersState.loaded,
                rx.vstack(_scores(), _disagreements(), _allow_lists(), width="100%", spacing="6"),
                rx.center(rx.spinner(size="3"), height="30vh"),
            ),
            rx.callout("Only admins manage the AI reviewer.", icon="lock"),
        ),
    )
