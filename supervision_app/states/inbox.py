""" "Needs you": the signed-in supervisor's inbox, with its inline actions and keyboard."""

from __future__ import annotations

import json
from dataclasses import dataclass

import reflex as rx

from services import inbox, interventions, proposals, queue, users
from services.clock import utcnow
from services.errors import Conflict, DomainError
from services.policy import liveness_policy, queue_policy
from supervision_app.components.timefmt import clock_time, span
from supervision_app.states import data
from supervision_app.states.auth import AuthState

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


def _href(item: inbox.InboxItem) -> str:
    if item.kind == "proposal":
        return f"/proposals?proposal={item.object_id}"
    if item.kind == "queued":
        return "/queue"
    if item.kind == "failed_callback":
        return f"/history/{item.agent_id}"
    return f"/runs/{item.execution_id}"


def _row(item: inbox.InboxItem, now) -> InboxRow:  # noqa: ANN001
    deadline = ""
    if item.deadline is not None:
        left = (item.deadline - now).total_seconds()
        verb = "expires" if item.kind == "proposal" else "gives up"
        deadline = (
            f"{verb} {clock_time(item.deadline, now)} (in {span(left)})" if left > 0 else "due now"
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
    )


def _decided_elsewhere(session, row: InboxRow, user, now) -> str:  # noqa: ANN001
    """Says who decided a proposal while this person was writing their reason."""
    try:
        proposal = proposals.get_proposal(session=session, proposal_id=row.object_id, caller=user)
    except DomainError:
        return f"{row.action} of {row.agent} is no longer yours to decide."
    who = ""
    if proposal.decided_by_user_id:
        who = (
            " by "
            + users.get_user(session=session, user_id=proposal.decided_by_user_id).display_name
        )
    elif proposal.decided_by_agent_id:
        who = " by the AI supervisor"
    when = f" at {clock_time(proposal.decided_at, now)}" if proposal.decided_at else ""
    return f"{row.action} of {row.agent} was {proposal.status}{who}{when}, before you did."


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

    @rx.var
    def selected_agents(self) -> int:
        return len({r.agent_id for r in self.rows if r.key in self.selected})

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return
        now = utcnow()
        open_row = next((r for r in self.rows if r.key == self.rejecting), None)

        def fetch(session):  # noqa: ANN001, ANN202
            items = inbox.needs_you(
                session=session, caller=user, now=now, liveness=liveness_policy()
            )
            decided = None
            if open_row is not None and open_row.key not in {i.key for i in items}:
                decided = _decided_elsewhere(session, open_row, user, now)
            return items, decided

        items, decided = await data.read(fetch)
        if decided is not None:  # the row goes; what was typed stays, in the notice
            self.notice = decided + (
                f" Your reason was not sent; here it is: “{self.reject_reason}”"
                if self.reject_reason.strip()
                else ""
            )
            self.rejecting = ""
        focused = self.rows[self.cursor].key if 0 <= self.cursor < len(self.rows) else ""
        self.rows = [_row(item, now) for item in items]
        keys = [r.key for r in self.rows]
        self.cursor = keys.index(focused) if focused in keys else min(self.cursor, len(keys) - 1)
        self.cursor = max(self.cursor, 0)
        self.selected = [k for k in self.selected if k in keys]
        self.may_act = user.may_supervise
        self.loaded = True

    def _current(self) -> InboxRow | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

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
        self.notice = ""

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

    @rx.event
    def open_reject(self, key: str = ""):
        row = self._current() if not key else next((r for r in self.rows if r.key == key), None)
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
    def edit_current(self):
        row = self._current()
        if row is not None and row.kind == "proposal":
            return rx.redirect(row.href)

    @rx.event
    async def approve_current(self):
        row = self._current()
        if row is None or row.kind != "proposal":
            return rx.toast.info("Move to a proposal (j / k) to approve it.")
        return await self.approve(row.object_id)

    async def _decide(self, action, done: str):  # noqa: ANN001, ANN202
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None:
            return rx.toast.error("Sign in again.")
        try:
            await data.write(lambda session: action(session, user))
        except Conflict as error:
            self.notice = ""
            await self.load()  # says who decided, and keeps a typed reason
            if not self.notice:
                self.notice = f"Someone else got there first: the {error.message}."
            return rx.toast.warning(self.notice)
        except DomainError as error:
            return rx.toast.error(error.message)
        self.notice = ""
        await self.load()
        return rx.toast.success(done)

    @rx.event
    async def approve(self, proposal_id: int):
        return await self._decide(
            lambda session, user: proposals.approve_proposal(
                session=session, proposal_id=proposal_id, caller=user, now=utcnow()
            ),
            "Approved: the agent can start.",
        )

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
        answer = await self._decide(
            lambda session, user: proposals.reject_proposal(
                session=session, proposal_id=proposal_id, caller=user, reason=reason, now=utcnow()
            ),
            "Rejected; the agent is told why.",
        )
        if not self.notice:  # decided: the reason went with it; otherwise it is kept
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
        await self.load()
        if missed:
            return rx.toast.warning(f"Approved {approved}; not: " + "; ".join(missed))
        return rx.toast.success(f"Approved {approved} proposals of {chosen[0].agent}.")

    @rx.event
    async def resume(self, execution_id: int):
        return await self._decide(
            lambda session, user: interventions.intervene(
                session=session, execution_id=execution_id, caller=user, kind="resume", now=utcnow()
            ),
            "Resumed.",
        )

    @rx.event
    async def run_now(self, entry_id: int):
        return await self._decide(
            lambda session, user: queue.run_entry_now(
                session=session, entry_id=entry_id, caller=user, now=utcnow(), policy=queue_policy()
            ),
            "Started: it is on Monitoring now.",
        )
