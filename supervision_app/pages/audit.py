"""Audit screen: the append-only trail of every decision and change."""

from __future__ import annotations

import json
from dataclasses import dataclass

import reflex as rx

from services import audit as audit_service
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.pager import pager
from supervision_app.states import data
from supervision_app.states.auth import AuthState

PAGE_SIZE = 50


@dataclass
class AuditRow:
    id: int
    at: str
    actor: str
    actor_type: str
    action: str
    target: str
    change: str


def _change(before: object, after: object) -> str:
    """Before → after as JSON, the form the exports use (not Python's repr)."""
    if before is None and after is None:
        return ""
    if before is None:
        return _json(after)
    return f"{_json(before)} → {_json(after)}"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


class AuditState(rx.State):
    rows: list[AuditRow] = []
    action_filter: str = ""
    page: int = 0
    has_next_page: bool = False
    chain_status: str = ""
    loaded: bool = False

    @rx.event
    async def load(self):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None or not user.is_admin:
            return
        action, offset = self.action_filter.strip() or None, self.page * PAGE_SIZE
        events = await data.read(
            lambda session: audit_service.list_audit_events(
                session=session, action=action, limit=PAGE_SIZE + 1, offset=offset
            )
        )
        # One row past the page says whether "Next" leads anywhere.
        self.has_next_page = len(events) > PAGE_SIZE
        self.rows = [
            AuditRow(
                id=e.id,
                at=e.at.strftime("%Y-%m-%d %H:%M:%S"),
                actor=e.actor_name,
                actor_type=e.actor_type,
                action=e.action,
                target=f"{e.object_type} {e.object_id or ''}".strip(),
                change=_change(e.before, e.after)[:200],
            )
            for e in events[:PAGE_SIZE]
        ]
        self.loaded = True

    @rx.event
    async def set_action_filter(self, value: str):
        self.action_filter = value
        self.page = 0
        await self.load()

    @rx.event
    async def next_page(self):
        if self.has_next_page:
            self.page += 1
            await self.load()

    @rx.event
    async def previous_page(self):
        if self.page > 0:
            self.page -= 1
            await self.load()

    async def _export(self, kind: str):
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None or not user.is_admin:
            return rx.toast.error("Only admins can export the audit trail.")
        action = self.action_filter.strip() or None
        events = await data.read(
            lambda session: audit_service.list_audit_events(
                session=session, action=action, limit=100_000
            )
        )
        if kind == "csv":
            return rx.download(data=audit_service.export_audit_csv(events), filename="audit.csv")
        return rx.download(data=audit_service.export_audit_json(events), filename="audit.json")

    @rx.event
    async def export_csv(self):
        return await self._export("csv")

    @rx.event
    async def export_json(self):
        return await self._export("json")

    @rx.event
    async def verify(self):
        result = await data.read(lambda session: audit_service.verify_audit_chain(session=session))
        if result.intact:
            self.chain_status = (
                f"Chain intact: {result.checked} events verified; head {result.head_hash[:16]}…"
            )
            return rx.toast.success(self.chain_status)
        self.chain_status = f"Chain BROKEN at event {result.broken_at_id}: {result.problem}."
        return rx.toast.error(self.chain_status)


def _row(row: AuditRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.at, size="1", white_space="nowrap")),
        rx.table.cell(
            rx.vstack(
                rx.text(row.actor, size="2"),
                rx.text(row.actor_type, size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(rx.code(row.action, size="1")),
        rx.table.cell(row.target),
        rx.table.cell(rx.text(row.change, size="1", color_scheme="gray")),
    )


def audit_page() -> rx.Component:
    return dashboard_page(
        "Audit",
        rx.cond(
            AuthState.is_admin,
            rx.vstack(
                rx.hstack(
                    rx.input(
                        placeholder="Filter by action, e.g. agent.",
                        value=AuditState.action_filter,
                        on_change=AuditState.set_action_filter.debounce(300),
                        aria_label="Filter by action",
                    ),
                    rx.spacer(),
                    rx.text(AuditState.chain_status, size="2"),
                    rx.button("Verify chain", variant="soft", on_click=AuditState.verify),
                    rx.button("Export CSV", variant="outline", on_click=AuditState.export_csv),
                    rx.button("Export JSON", variant="outline", on_click=AuditState.export_json),
                    width="100%",
                    align="center",
                    wrap="wrap",  # a phone puts the buttons under the filter
                ),
                rx.cond(
                    AuditState.rows.length() > 0,
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                *[
                                    rx.table.column_header_cell(h)
                                    for h in ("Time (UTC)", "Actor", "Action", "Object", "Change")
                                ]
                            )
                        ),
                        rx.table.body(rx.foreach(AuditState.rows, _row)),
                        width="100%",
                    ),
                    empty_state(
                        "scroll-text",
                        "No audit events match",
                        "Every sign-in, agent change and decision is recorded here.",
                        loaded=AuditState.loaded,
                    ),
                ),
                pager(
                    AuditState.page,
                    AuditState.has_next_page,
                    AuditState.previous_page,
                    AuditState.next_page,
                ),
                width="100%",
                spacing="3",
            ),
            rx.callout("The audit trail is visible to admins.", icon="lock"),
        ),
    )
