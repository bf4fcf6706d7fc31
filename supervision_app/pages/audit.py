"""Audit screen: the append-only trail of every decision and change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import reflex as rx

from services import audit as audit_service
from services import audit_reading as reading
from services.clock import utcnow
from supervision_app.components.fields import select_field
from supervision_app.components.layout import dashboard_page, empty_state
from supervision_app.components.pager import pager
from supervision_app.components.timefmt import clock_time, exact_utc
from supervision_app.states import data
from supervision_app.states.auth import AuthState, viewer_zone

PAGE_SIZE = 50


@dataclass
class ChangeRow:
    field: str
    before: str
    after: str


@dataclass
class AuditRow:
    id: int
    at: str
    at_exact: str  # shown on hover
    sentence: str
    link: str
    actor_kind: str
    action: str
    target: str
    changes: list[ChangeRow]


ACTOR_KINDS = {
    "user": "person",
    "agent": "agent",
    "autonomous_supervisor": "AI supervisor",
    "system": "system",
}
OBJECT_TYPES = [
    "all",
    "proposal",
    "execution",
    "action_request",
    "queue_entry",
    "agent",
    "user",
    "escalation_chain",
    "on_call_shift",
    "notification_channel",
    "review_allow_list",
    "presence",
]


def _row(event: audit_service.AuditEventRead, now: datetime, zone: tzinfo) -> AuditRow:
    return AuditRow(
        id=event.id,
        at=clock_time(event.at, now, zone, seconds=True),
        at_exact=exact_utc(event.at),
        sentence=reading.sentence(event),
        link=reading.link_for(event.object_type, event.object_id),
        actor_kind=ACTOR_KINDS.get(event.actor_type, event.actor_type),
        action=event.action,
        target=reading.object_words(event),
        changes=[ChangeRow(c.field, c.before, c.after) for c in reading.changes(event)],
    )


def _day(text: str, zone: tzinfo, *, end: bool = False) -> datetime | None:
    """A date input's day in the viewer's zone as a bound (`end`: the day after, so the day
    is included)."""
    try:
        day = date.fromisoformat(text.strip()) + timedelta(days=1 if end else 0)
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):  # not a date, or beyond the first or last day there is
        return None


class AuditState(rx.State):
    rows: list[AuditRow] = []
    action_filter: str = ""
    actor_filter: str = ""
    object_filter: str = "all"
    from_day: str = ""
    to_day: str = ""
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
        filters, offset = self._filters(), self.page * PAGE_SIZE
        events = await data.read(
            lambda session: audit_service.list_audit_events(
                session=session, limit=PAGE_SIZE + 1, offset=offset, **filters
            )
        )
        # One row past the page says whether "Next" leads anywhere.
        self.has_next_page = len(events) > PAGE_SIZE
        now, zone = utcnow(), viewer_zone(self)
        self.rows = [_row(e, now, zone) for e in events[:PAGE_SIZE]]
        self.loaded = True

    def _filters(self) -> dict[str, Any]:
        return {
            "action": self.action_filter.strip() or None,
            "actor": self.actor_filter.strip() or None,
            "object_type": None if self.object_filter == "all" else self.object_filter,
            "since": _day(self.from_day, viewer_zone(self)),
            "until": _day(self.to_day, viewer_zone(self), end=True),
        }

    @rx.event
    async def set_actor_filter(self, value: str):
        self.actor_filter, self.page = value, 0
        await self.load()

    @rx.event
    async def set_object_filter(self, value: str):
        self.object_filter, self.page = value, 0
        await self.load()

    @rx.event
    async def set_from_day(self, value: str):
        self.from_day, self.page = value, 0
        await self.load()

    @rx.event
    async def set_to_day(self, value: str):
        self.to_day, self.page = value, 0
        await self.load()

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
        filters = self._filters()  # what the screen shows is what is exported
        events = await data.read(
            lambda session: audit_service.list_audit_events(
                session=session, limit=100_000, **filters
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
        auth = await self.get_state(AuthState)
        user = await auth.current_user()
        if user is None or not user.is_admin:  # the chain's size and head are the admins'
            return None
        result = await data.read(lambda session: audit_service.verify_audit_chain(session=session))
        if result.intact:
            self.chain_status = (
                f"Chain intact: {result.checked} events verified; head {result.head_hash[:16]}…"
            )
            return rx.toast.success(self.chain_status)
        self.chain_status = f"Chain BROKEN at event {result.broken_at_id}: {result.problem}."
        return rx.toast.error(self.chain_status)


def _change_line(change: ChangeRow) -> rx.Component:
    return rx.hstack(
        rx.code(change.field, size="1"),
        rx.text(change.before, size="1", color_scheme="gray", style={"overflow_wrap": "anywhere"}),
        rx.icon("arrow-right", size=12, flex_shrink="0"),
        rx.text(change.after, size="1", style={"overflow_wrap": "anywhere"}),
        wrap="wrap",
        align="center",
        spacing="2",
    )


def _event(row: AuditRow) -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.cond(
                row.link != "",
                rx.link(row.sentence, href=row.link, size="2", weight="medium"),
                rx.text(row.sentence, size="2", weight="medium"),
            ),
            rx.spacer(),
            rx.text(row.at, size="1", color_scheme="gray", title=row.at_exact),
            wrap="wrap",
            align="center",
            width="100%",
            style={"overflow_wrap": "anywhere"},
        ),
        rx.hstack(
            rx.badge(row.actor_kind, variant="soft", color_scheme="gray"),
            rx.code(row.action, size="1"),
            rx.text(row.target, size="1", color_scheme="gray"),
            wrap="wrap",
            align="center",
            spacing="2",
        ),
        rx.cond(
            row.changes.length() > 0,
            rx.el.details(
                rx.el.summary(
                    rx.text(
                        "What changed (",
                        row.changes.length().to_string(),
                        ")",
                        size="1",
                        as_="span",
                    )
                ),
                rx.vstack(rx.foreach(row.changes, _change_line), spacing="1", padding_top="4px"),
            ),
        ),
        padding_y="8px",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        width="100%",
        data_testid="audit-event",
    )


def _filters() -> rx.Component:
    return rx.hstack(
        rx.input(
            placeholder="Filter by action, e.g. agent.",
            value=AuditState.action_filter,
            on_change=AuditState.set_action_filter.debounce(300),
            aria_label="Filter by action",
        ),
        rx.input(
            placeholder="By who, e.g. sam",
            value=AuditState.actor_filter,
            on_change=AuditState.set_actor_filter.debounce(300),
            aria_label="Filter by who did it",
        ),
        select_field(
            OBJECT_TYPES,
            value=AuditState.object_filter,
            on_change=AuditState.set_object_filter,
            label="Filter by kind of object",
        ),
        rx.hstack(
            rx.el.label("From", html_for="audit-from", font_size="var(--font-size-2)"),
            rx.input(
                id="audit-from",
                type="date",
                value=AuditState.from_day,
                on_change=AuditState.set_from_day,
            ),
            rx.el.label("to", html_for="audit-to", font_size="var(--font-size-2)"),
            rx.input(
                id="audit-to",
                type="date",
                value=AuditState.to_day,
                on_change=AuditState.set_to_day,
            ),
            align="center",
            wrap="wrap",
            spacing="2",
        ),
        wrap="wrap",
        spacing="2",
        width="100%",
    )


def audit_page() -> rx.Component:
    return dashboard_page(
        "Audit",
        rx.cond(
            AuthState.is_admin,
            rx.vstack(
                _filters(),
                rx.hstack(
                    rx.text(
                        "Times in your time zone; the exact UTC time on hover.",
                        size="1",
                        color_scheme="gray",
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
                    rx.vstack(rx.foreach(AuditState.rows, _event), spacing="0", width="100%"),
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
