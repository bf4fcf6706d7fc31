"""Escalation settings: admins' chains and on-call hours, and everyone's delegates."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import Field

from services import escalation_chains, notice_channels, on_call
from services.clock import utcnow
from services.db import read_scope, session_scope
from services.escalation_chains import ChainRead
from services.notice_channels import ChannelRead
from services.on_call import DelegationRead, ShiftRead
from services.policy import callback_targets
from supervision_app.api.auth import AdminDep, UserDep
from supervision_app.api.schemas import StrictBody

router = APIRouter(prefix="/api/escalation", tags=["escalation"])


class ChainBody(StrictBody):
    steps: list[str] = Field(
        max_length=4,
        description="in order, each at most once: supervisor, delegate, on_call, reviewer",
    )
    final: str = Field(default="reject", description="reject, or wait (until it expires)")
    step_minutes: dict[str, int] = Field(
        default_factory=dict, description='minutes per step by risk: {"high": 5, "safe": 60}'
    )


class ShiftBody(StrictBody):
    category: str = Field(min_length=1, max_length=60)
    user_id: int
    weekdays: list[int] = Field(min_length=1, max_length=7, description="0 Monday … 6 Sunday")
    start: str = Field(max_length=5, description="HH:MM")
    end: str = Field(max_length=5, description="HH:MM; at or before start: past midnight")
    timezone: str = Field(default="UTC", max_length=64)


class ChannelBody(StrictBody):
    name: str = Field(min_length=1, max_length=80)
    kind: str = Field(description="webhook or email")
    target: str = Field(
        max_length=500, description="the chat's incoming-webhook URL, or the sender address"
    )
    settings: dict[str, str | int] = Field(
        default_factory=dict,
        description='e-mail: {"host", "port", "tls": "starttls"|"ssl"|"none", "username"}',
    )


class ChannelUpdateBody(StrictBody):
    enabled: bool


class EmailBody(StrictBody):
    email: str | None = Field(default=None, max_length=254, description="none: no e-mail")


class DelegationBody(StrictBody):
    delegate_id: int
    starts_at: datetime
    ends_at: datetime
    user_id: int | None = Field(default=None, description="admins only: for someone else")


@router.get("/chains")
def list_chains(_admin: AdminDep) -> list[ChainRead]:
    """Every chain set (the built-in default when no default is set)."""
    with read_scope() as session:
        return escalation_chains.list_chains(session=session)


@router.put("/chains/{scope}")
def set_chain(scope: str, body: ChainBody, admin: AdminDep) -> ChainRead:
    """Set the chain of `default`, `category:<name>` or `agent:<id>`."""
    with session_scope() as session:
        return escalation_chains.set_chain(
            session=session,
            caller=admin,
            scope=scope,
            steps=body.steps,
            final=body.final,
            step_minutes=body.step_minutes,
            now=utcnow(),
        )


@router.delete("/chains/{scope}", status_code=204)
def clear_chain(scope: str, admin: AdminDep) -> None:
    with session_scope() as session:
        escalation_chains.clear_chain(session=session, caller=admin, scope=scope, now=utcnow())


@router.get("/on-call")
def list_shifts(
    _user: UserDep, category: str | None = Query(default=None, max_length=60)
) -> list[ShiftRead]:
    with read_scope() as session:
        return on_call.list_shifts(session=session, category=category)


@router.post("/on-call", status_code=201)
def add_shift(body: ShiftBody, admin: AdminDep) -> ShiftRead:
    with session_scope() as session:
        return on_call.add_shift(session=session, caller=admin, now=utcnow(), **body.model_dump())


@router.delete("/on-call/{shift_id}", status_code=204)
def remove_shift(shift_id: int, admin: AdminDep) -> None:
    with session_scope() as session:
        on_call.remove_shift(session=session, caller=admin, shift_id=shift_id, now=utcnow())


@router.get("/delegations")
def list_delegations(caller: UserDep) -> list[DelegationRead]:
    """Delegations not over yet: mine (given or received), or everyone's for an admin."""
    with read_scope() as session:
        return on_call.list_delegations(
            session=session, now=utcnow(), user_id=None if caller.is_admin else caller.id
        )


@router.post("/delegations", status_code=201)
def name_delegate(body: DelegationBody, caller: UserDep) -> DelegationRead:
    """Name a delegate asked in my place while I am away, between two dates."""
    with session_scope() as session:
        return on_call.name_delegate(
            session=session,
            caller=caller,
            user_id=body.user_id or caller.id,
            delegate_id=body.delegate_id,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            now=utcnow(),
        )


@router.delete("/delegations/{delegation_id}", status_code=204)
def end_delegation(delegation_id: int, caller: UserDep) -> None:
    with session_scope() as session:
        on_call.end_delegation(
            session=session, caller=caller, delegation_id=delegation_id, now=utcnow()
        )


@router.get("/channels")
def list_channels(_admin: AdminDep) -> list[ChannelRead]:
    """Notification channels, without their secrets (a webhook's URL is redacted)."""
    with read_scope() as session:
        return notice_channels.list_channels(session=session)


@router.post("/channels", status_code=201)
def add_channel(body: ChannelBody, admin: AdminDep) -> ChannelRead:
    target: str = body.target
    if body.kind == "webhook":  # the host is looked up before the write, not during it
        target = notice_channels.checked_webhook(body.target, callback_targets())
    with session_scope() as session:
        return notice_channels.add_channel(
            session=session,
            caller=admin,
            name=body.name,
            kind=body.kind,
            target=target,
            settings=dict(body.settings),
            targets=None,
            now=utcnow(),
        )


@router.patch("/channels/{channel_id}")
def update_channel(channel_id: int, body: ChannelUpdateBody, admin: AdminDep) -> ChannelRead:
    with session_scope() as session:
        return notice_channels.set_enabled(
            session=session, caller=admin, channel_id=channel_id, enabled=body.enabled, now=utcnow()
        )


@router.delete("/channels/{channel_id}", status_code=204)
def remove_channel(channel_id: int, admin: AdminDep) -> None:
    with session_scope() as session:
        notice_channels.remove_channel(
            session=session, caller=admin, channel_id=channel_id, now=utcnow()
        )


@router.put("/users/{user_id}/email")
def set_email(user_id: int, body: EmailBody, caller: UserDep) -> EmailBody:
    """Where my e-mail notices go (an admin: anyone's); null stops them."""
    with session_scope() as session:
        return EmailBody(
            email=notice_channels.set_my_email(
                session=session, caller=caller, user_id=user_id, email=body.email, now=utcnow()
            )
        )
