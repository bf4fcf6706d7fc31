""" "Needs you": the signed-in supervisor's inbox, with its inline actions and keyboard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, tzinfo

import reflex as rx

from services import inbox, interventions, proposals, queue
from services.clock import utcnow
from services.errors import Conflict, DomainError
from services.policy import liveness_policy, queue_policy
from supervision_app.components.timefmt import clock_time, span
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone
from supervision_app.states.nav import NavState, title_script

KIND_LABELS = {
    "proposal": "Proposal",
    "paused_run": "Paused run",
    "stale_run": "Quiet run",
    "lost_run": "Lost run",
    "queued": "Queued",
    "failed_callback": "Callback failed",
}


@dataclass
class InboxRow:
    key: str
    kind: str
    kind_label: str
    object_id: int
    agent_id: int
    agent: str
    action: str
    detail: str
    risk: str
    waiting: str
    deadline: str
    parameters: str
    href: str
    bulk_ok: bool  # a low-risk proposal: may be approved together with others of its agent
    mine: bool  # queued work only its supervisor may run now


def _href(item: inbox.InboxItem) -> str:
    if item.kind == "proposal":
        return f"/proposals?proposal={item.object_id}"
    if item.kind == "queued":
        return "/queue"
    if item.kind == "failed_callback":
        return f"/history/{item.agent_id}"
    return f"/runs/{item.execution_id}"


def _row(item: inbox.InboxItem, now, user_id: int, zone: tzinfo = UTC) -> InboxRow:  # noqa: ANN001
    deadline = ""
    if item.deadline is not None:
        left = (item.deadline - now).total_seconds()
        verb = "expires" if item.kind == "proposal" else "gives up"
        deadline = (
            f"{verb} {clock_time(item.deadline, now, zone)} (in {span(left)})"
            if left > 0
            else "due now"
        )
    return InboxRow(
        key=item.key,
        kind=item.kind,
        kind_label=KIND_LABELS.get(item.kind, item.kind),
        object_id=item.object_id,
        agent_id=item.agent_id,
        agent=item.agent,
        action=item.action,
        detail=item.detail,
        risk=item.risk,
        waiting=span((now - item.since).total_seconds()),
        deadline=deadline,
        parameters=json.dumps(item.parameters, sort_keys=True, default=str)
        if item.parameters is not None
        else "",
        href=_href(item),
        bulk_ok=item.kind == "proposal" and item.risk == "safe",
        mine=item.supervisor_id == user_id,
    )


def _decided_elsewhere(session, row: InboxRow, user, now, zone: tzinfo = UTC) -> str:  # noqa: ANN001
    """Says who decided a proposal while this person was writing their reason."""
    try:
        proposal = proposals.get_proposal(
            session=session, proposal_id=row.object_id, caller=user, now=utcnow()
        )
    except DomainError:
        return f"{row.action} of {row.agent} is no longer yours to decide."
    decider = proposals.decider_name(session=session, proposal=proposal)
    who = f" by {decider}" if decider else ""
    when = f" at {clock_time(proposal.decided_at, now, zone)}" if proposal.decided_at else ""
    return f"{row.action} of {row.agent} was {proposal.status}{who}{when}, before you did."


def _events(*events) -> list:  # noqa: ANN002
    return [event for event in events if event is not None]


class InboxState(rx.State):
    rows: list[InboxRow] = []
    loaded: bool = False
    may_act: bool = True
    cursor: int = 0
    rejecting: str = ""  # the key of the row whose reject reason is open
    reject_reason: str = ""
    notice: str = ""  # said when someone else decided first (what was typed is kept)
    selected: list[str] = []
    show_help: bool = False
    _decided_first: str = ""  # who decided the proposal being rejected here, before us

    @rx.var
    def focused_key(self) -> str:
        """The row the keyboard acts on, as this page shows it: a key press sends it, so a
        second press before the list moved on acts on the same row, never the next one."""
        return self.rows[self.cursor].key if 0 <= self.cursor < len(self.rows) else ""

    @rx.var
    def selected_agents(self) -> int:
        return len({r.agent_id for r in self.rows if r.key in self.selected})

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        now, zone = utcnow(), viewer_zone(self)
        open_row = next((r for r in self.rows if r.key == self.rejecting), None)

        def fetch(session):  # noqa: ANN001, ANN202
            items = inbox.needs_you(
                session=session, caller=user, now=now, liveness=liveness_policy()
            )
            decided = None
            if open_row is not None and open_row.key not in {i.key for i in items}:
                decided = _decided_elsewhere(session, open_row, user, now, zone)
            return items, decided

        items, decided = await data.read(fetch)
        if decided is not None:  # the row goes; what was typed stays, in the notice
            self._decided_first = decided
            self._say_decided_first()
            self.rejecting = ""
        focused = self.rows[self.cursor].key if 0 <= self.cursor < len(self.rows) else ""
        self.rows = [_row(item, now, user.id, zone) for item in items]
        keys = [r.key for r in self.rows]
        self.cursor = keys.index(focused) if focused in keys else min(self.cursor, len(keys) - 1)
        self.cursor = max(self.cursor, 0)
        self.selected = [k for k in self.selected if k in keys]
        self.may_act = user.may_supervise
        self.loaded = True
        nav = await self.get_state(NavState)  # the sidebar and the title say the same number
        if nav.needs_you != len(self.rows):
            nav.needs_you = len(self.rows)
            return rx.call_script(title_script(nav.needs_you))

    def _row_of(self, key: str) -> InboxRow | None:
        return next((r for r in self.rows if r.key == key), None)

    @rx.event
    def move(self, step: int):
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + step))
            row = f"document.getElementById('inbox-row-{self.cursor}')"
            return rx.call_script(f"{row}?.scrollIntoView({{block: 'nearest'}}); {row}?.focus()")

    @rx.event
    def focus(self, index: int):
        self.cursor = index

    @rx.event
    def dismiss_notice(self):
        self.notice, self._decided_first = "", ""

    def _say_decided_first(self) -> None:
        reason = self.reject_reason.strip()
        kept = f" Your reason was not sent; here it is: “{reason}”" if reason else ""
        self.notice = self._decided_first + kept

    @rx.event
    def toggle_help(self):
        self.show_help = not self.show_help

    @rx.event
    def toggle_selected(self, key: str):
        self.selected = (
            [k for k in self.selected if k != key]
            if key in self.selected
            else [
                *self.selected,
                key,
            ]
        )

    @rx.event
    def set_reject_reason(self, value: str):
        self.reject_reason = value
        if self._decided_first and not self.rejecting:
            self._say_decided_first()  # typing that arrived after the decision: kept too

    @rx.event
    def open_reject(self, key: str):
        row = self._row_of(key)
        if row is None or row.kind != "proposal":
            return
        if self.rejecting != row.key:
            self.rejecting = row.key
        return rx.call_script(
            "setTimeout(() => document.getElementById('inbox-reason')?.focus(), 50)"
        )

    @rx.event
    def cancel_reject(self):
        self.rejecting = ""

    @rx.event
    def edit_key(self, key: str):
        row = self._row_of(key)
        if row is not None and row.kind == "proposal":
            return rx.redirect(row.href)

    @rx.event
    async def approve_key(self, key: str):
        """`a`: approve the row the person saw focused. Gone already (a repeated key, or
        decided meanwhile): nothing happens; the list says what changed."""
        row = self._row_of(key)
        if row is None:
            return None
        if row.kind != "proposal":
            return rx.toast.info("Move to a proposal (j / k) to approve it.")
        return await self.approve(row.object_id)

    async def _decide(self, action, done: str, first_wins: bool = True):  # noqa: ANN001, ANN202
        """Run a decision; True when it was made. A conflict on a decision (`first_wins`)
        means someone decided first: the list says who and keeps what was typed."""
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return False, rx.toast.error("Sign in again.")
        try:
            await data.write(lambda session: action(session, user))
        except Conflict as error:
            if not first_wins:
                return False, rx.toast.error(data.sentence(error.message))
            self.notice, self._decided_first = "", ""
            title = await self.load()  # says who decided, and keeps a typed reason
            if not self.notice:
                self.notice = f"Someone else got there first: the {error.message}."
            return False, _events(rx.toast.warning(self.notice), title)
        except DomainError as error:
            return False, rx.toast.error(data.sentence(error.message))
        self.notice, self._decided_first = "", ""
        title = await self.load()
        return True, _events(rx.toast.success(done), title)

    @rx.event
    async def approve(self, proposal_id: int):
        _, answer = await self._decide(
            lambda session, user: proposals.approve_proposal(
                session=session, proposal_id=proposal_id, caller=user, now=utcnow()
            ),
            "Approved: the agent can start.",
        )
        return answer

    @rx.event
    async def reject_submitted(self, form: dict[str, str]):
        """The reject form: its reason as typed (the field's own updates may lag behind)."""
        self.reject_reason = form.get("reason", self.reject_reason)
        try:
            proposal_id = int(form.get("proposal_id", ""))
        except ValueError:
            return rx.toast.error("That proposal is no longer on the list.")
        return await self.reject(proposal_id)

    async def reject(self, proposal_id: int):
        reason = self.reject_reason.strip()
        if not reason:
            return rx.toast.error("Say why you reject it: the agent is told.")
        sent, answer = await self._decide(
            lambda session, user: proposals.reject_proposal(
                session=session, proposal_id=proposal_id, caller=user, reason=reason, now=utcnow()
            ),
            "Rejected; the agent is told why.",
        )
        if sent:  # the reason went with the decision; on any failure it is kept
            self.rejecting, self.reject_reason = "", ""
        return answer

    @rx.event
    async def approve_selected(self):
        chosen = [r for r in self.rows if r.key in self.selected and r.bulk_ok]
        if not chosen or len({r.agent_id for r in chosen}) != 1:
            return rx.toast.error("Choose low-risk proposals of one agent to approve together.")
        approved, missed = 0, []
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return rx.toast.error("Sign in again.")
        for row in chosen:  # one transaction each: one decided elsewhere does not stop the rest
            try:
                await data.write(
                    lambda session, pid=row.object_id: proposals.approve_proposal(
                        session=session, proposal_id=pid, caller=user, now=utcnow()
                    )
                )
                approved += 1
            except DomainError as error:
                missed.append(f"{row.action} ({error.message})")
        self.selected = []
        title = await self.load()
        if missed:
            return _events(
                rx.toast.warning(f"Approved {approved}; not: " + "; ".join(missed)), title
            )
        return _events(
            rx.toast.success(f"Approved {approved} proposals of {chosen[0].agent}."), title
        )

    @rx.event
    async def resume(self, execution_id: int):
        _, answer = await self._decide(
            lambda session, user: interventions.intervene(
                session=session, execution_id=execution_id, caller=user, kind="resume", now=utcnow()
            ),
            "Resumed.",
            first_wins=False,
        )
        return answer

    @rx.event
    async def run_now(self, entry_id: int):
        _, answer = await self._decide(
            lambda session, user: queue.run_entry_now(
                session=session, entry_id=entry_id, caller=user, now=utcnow(), policy=queue_policy()
            ),
            "Started: it is on Monitoring now.",
            first_wins=False,
        )
        return answer
