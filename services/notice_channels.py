"""Admins' notification channels (a chat webhook, e-mail over SMTP), and people's own e-mail
address for notices. Checked so that a channel can work; shown without its secrets."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from models import User
from models.escalation import NotificationChannel, OutgoingNotice
from services.audit import record_audit
from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.outbound_urls import CallbackTargets, CheckedUrl, check_callback_url, redacted
from services.users import UserRead

# One plain address: no display names, lists or quoting ("x,victim@evil.com" is refused).
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
TLS_MODES = ("starttls", "ssl", "none")


class ChannelRead(BaseModel):
    id: int
    name: str
    kind: str
    target: str  # a webhook's URL redacted (it holds the receiver's secret), or the sender
    settings: dict[str, Any]
    enabled: bool
    last_error: str | None
    last_sent_at: datetime | None


def _read(channel: NotificationChannel) -> ChannelRead:
    return ChannelRead(
        id=channel.id or 0,
        name=channel.name,
        kind=channel.kind,
        target=(redacted(channel.target) or "") if channel.kind == "webhook" else channel.target,
        settings=dict(channel.settings),
        enabled=channel.enabled,
        last_error=channel.last_error,
        last_sent_at=channel.last_sent_at,
    )


def check_email(address: str, field: str = "email") -> str:
    address = address.strip()
    if len(address) > 254 or not EMAIL.match(address):
        raise InvalidInput("give an e-mail address like name@example.com", field=field)
    return address


def _email_settings(settings: dict[str, Any]) -> dict[str, Any]:
    host = str(settings.get("host", "")).strip()
    try:
        host.encode("idna")  # what the connection will need: "smtp..example.com" fails here
    except UnicodeError:
        host = ""
    if not host or len(host) > 253 or any(c.isspace() for c in host):
        raise InvalidInput("give the SMTP server's host name", field="host")
    port = settings.get("port", 587)
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput("the SMTP port is a number from 1 to 65535", field="port")
    tls = str(settings.get("tls", "starttls"))
    if tls not in TLS_MODES:
        raise InvalidInput("TLS is starttls, ssl or none", field="tls")
    username = str(settings.get("username", "") or "").strip()[:200]
    if username and tls == "none":
        raise InvalidInput(
            "with a user name the password would cross the network in clear: choose starttls "
            "or ssl",
            field="tls",
        )
    return {"host": host, "port": port, "tls": tls, "username": username}


def checked_webhook(target: str, targets: CallbackTargets) -> CheckedUrl:
    """A webhook URL checked as agents' callbacks are (public, or allowed by
    CALLBACK_ALLOWED_HOSTS). It looks the host up: call it before the write transaction."""
    return check_callback_url(target, targets, field="target")


def add_channel(
    *,
    session: Session,
    caller: UserRead,
    name: str,
    kind: str,
    target: str,
    settings: dict[str, Any],
    targets: CallbackTargets | None,
    now: datetime,
) -> ChannelRead:
    """A webhook or an e-mail channel (sender, host, port, TLS, user name). A webhook's URL
    must come from `checked_webhook` (`targets` None), or is checked here against `targets`."""
    if not caller.is_admin:
        raise PermissionDenied("only admins set notification channels")
    name = name.strip()
    if not name or len(name) > 80:
        raise InvalidInput("name the channel (up to 80 characters)", field="name")
    if session.exec(select(NotificationChannel).where(NotificationChannel.name == name)).first():
        raise Conflict("a channel of that name exists", field="name")
    if kind == "webhook":
        if targets is not None:
            target = checked_webhook(target, targets)
        elif not isinstance(target, CheckedUrl):
            raise InvalidInput("the webhook URL was not checked", field="target")
        target, settings = str(target), {}
    elif kind == "email":
        target, settings = check_email(target, "target"), _email_settings(settings)
    else:
        raise InvalidInput("a channel is a webhook or email", field="kind")
    channel = NotificationChannel(
        name=name, kind=kind, target=target, settings=settings, created_at=now
    )
    session.add(channel)
    session.flush()
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="notification_channel.added",
        object_type="notification_channel",
        object_id=channel.id,
        now=now,
        after={"name": name, "kind": kind, "target": _read(channel).target, **settings},
    )
    return _read(channel)


def set_enabled(
    *, session: Session, caller: UserRead, channel_id: int, enabled: bool, now: datetime
) -> ChannelRead:
    if not caller.is_admin:
        raise PermissionDenied("only admins set notification channels")
    channel = session.get(NotificationChannel, channel_id)
    if channel is None:
        raise NotFound("no such channel")
    channel.enabled = enabled
    session.add(channel)
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="notification_channel." + ("enabled" if enabled else "disabled"),
        object_type="notification_channel",
        object_id=channel_id,
        now=now,
    )
    return _read(channel)


def remove_channel(*, session: Session, caller: UserRead, channel_id: int, now: datetime) -> None:
    """Remove a channel and the notices it has not sent."""
    if not caller.is_admin:
        raise PermissionDenied("only admins set notification channels")
    channel = session.get(NotificationChannel, channel_id)
    if channel is None:
        raise NotFound("no such channel")
    for notice in session.exec(
        select(OutgoingNotice).where(OutgoingNotice.channel_id == channel_id)
    ).all():
        session.delete(notice)
    session.flush()
    session.delete(channel)
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="notification_channel.removed",
        object_type="notification_channel",
        object_id=channel_id,
        now=now,
        before={"name": channel.name, "kind": channel.kind},
    )


def list_channels(*, session: Session) -> list[ChannelRead]:
    rows = session.exec(select(NotificationChannel).order_by(col(NotificationChannel.id))).all()
    return [_read(r) for r in rows]


def set_my_email(
    *, session: Session, caller: UserRead, user_id: int, email: str | None, now: datetime
) -> str | None:
    """Where this person's e-mail notices go (themselves, or an admin for anyone); None or
    "" stops them."""
    if caller.id != user_id and not caller.is_admin:
        raise PermissionDenied("you may set only your own e-mail address")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    address = check_email(email) if email and email.strip() else None
    user.email = address
    session.add(user)
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="user.email_set" if address else "user.email_removed",
        object_type="user",
        object_id=user_id,
        now=now,
    )
    return address


def email_of(*, session: Session, user_id: int) -> str | None:
    user = session.get(User, user_id)
    return user.email if user else None
