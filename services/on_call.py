"""Who stands in: a supervisor's delegate while they are away (between two dates), and the
weekly hours people are on call for a category. Escalation (services/escalation.py) asks
them; presence decides whether they can take a step now."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel
from sqlmodel import Session, col, select

from models import User, UserRole
from models.escalation import Delegation, OnCallShift
from services.audit import record_audit
from services.errors import InvalidInput, NotFound, PermissionDenied
from services.users import UserRead

MAX_DELEGATION = timedelta(days=366)
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class DelegationRead(BaseModel):
    id: int
    user_id: int
    user_name: str
    delegate_id: int
    delegate_name: str
    starts_at: datetime
    ends_at: datetime


class ShiftRead(BaseModel):
    id: int
    category: str
    user_id: int
    user_name: str
    weekdays: list[int]
    start: str  # "HH:MM"
    end: str
    timezone: str

    @property
    def summary(self) -> str:
        days = ", ".join(WEEKDAY_NAMES[d] for d in self.weekdays)
        return f"{days} {self.start}–{self.end} ({self.timezone})"


def display_names(session: Session, ids: set[int] | list[int]) -> dict[int, str]:
    """People's display names by id, in one query."""
    if not ids:
        return {}
    return dict(
        session.execute(select(User.id, User.display_name).where(col(User.id).in_(ids))).all()
    )


def in_force(now: datetime) -> Any:
    """A WHERE clause: delegations whose period includes `now`."""
    return (Delegation.starts_at <= now) & (Delegation.ends_at > now)


def _can_stand_in(session: Session, user_id: int, field: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise InvalidInput("no such user", field=field)
    if not user.is_active or user.role == UserRole.VIEWER:
        raise InvalidInput(
            f"{user.display_name} cannot decide proposals (a viewer or a deactivated account)",
            field=field,
        )
    return user


# --- delegations -------------------------------------------------------------------------


def delegate_of(*, session: Session, user_id: int, now: datetime) -> int | None:
    """The delegate `user_id` named for now (the latest named, when periods overlap)."""
    return session.exec(
        select(Delegation.delegate_id)
        .where(
            Delegation.user_id == user_id,
            in_force(now),
        )
        .order_by(col(Delegation.id).desc())
    ).first()


def is_delegate_now(*, session: Session, user_id: int, delegate_id: int, now: datetime) -> bool:
    """Whether `user_id` named `delegate_id` for a period that includes `now`."""
    return (
        session.exec(
            select(Delegation.id).where(
                Delegation.user_id == user_id,
                Delegation.delegate_id == delegate_id,
                in_force(now),
            )
        ).first()
        is not None
    )


def delegators_among(*, session: Session, delegate_ids: set[int], now: datetime) -> set[int]:
    """Whose delegate any of `delegate_ids` is now (one query for many)."""
    if not delegate_ids:
        return set()
    return set(
        session.exec(
            select(Delegation.user_id).where(
                col(Delegation.delegate_id).in_(delegate_ids),
                in_force(now),
            )
        ).all()
    )


def name_delegate(
    *,
    session: Session,
    caller: UserRead,
    user_id: int,
    delegate_id: int,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> DelegationRead:
    """`user_id` (the caller, or anyone for an admin) names a delegate for a period."""
    if caller.id != user_id and not caller.is_admin:
        raise PermissionDenied("you may name a delegate only for yourself")
    if not caller.may_supervise and caller.id == user_id:
        raise PermissionDenied("viewers have nothing to delegate")
    if session.get(User, user_id) is None:
        raise NotFound("no such user")
    if delegate_id == user_id:
        raise InvalidInput("name someone else as your delegate", field="delegate_id")
    _can_stand_in(session, delegate_id, "delegate_id")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput("give dates with a time zone", field="starts_at")
    if starts_at > now + MAX_DELEGATION:
        raise InvalidInput("a delegation starts within a year", field="starts_at")
    if ends_at <= starts_at:
        raise InvalidInput("the end must come after the start", field="ends_at")
    if ends_at <= now:
        raise InvalidInput("the end is in the past", field="ends_at")
    if ends_at - starts_at > MAX_DELEGATION:
        raise InvalidInput("a delegation lasts at most a year", field="ends_at")
    row = Delegation(
        user_id=user_id,
        delegate_id=delegate_id,
        starts_at=starts_at,
        ends_at=ends_at,
        created_at=now,
    )
    session.add(row)
    session.flush()
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="delegation.named",
        object_type="user",
        object_id=user_id,
        now=now,
        after={
            "delegate_id": delegate_id,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        },
    )
    return _delegation_read(session, row)


def end_delegation(
    *, session: Session, caller: UserRead, delegation_id: int, now: datetime
) -> None:
    """End a delegation now (its owner or an admin)."""
    row = session.get(Delegation, delegation_id)
    if row is None or (row.user_id != caller.id and not caller.is_admin):
        raise NotFound("no such delegation")
    if row.ends_at > now:
        if row.starts_at > now:  # not begun: it never will
            row.starts_at = now
        row.ends_at = now
        session.add(row)
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="delegation.ended",
        object_type="user",
        object_id=row.user_id,
        now=now,
        after={"delegate_id": row.delegate_id},
    )


def list_delegations(
    *, session: Session, now: datetime, user_id: int | None = None
) -> list[DelegationRead]:
    """Delegations not over yet (of one person, or everyone's)."""
    query = select(Delegation).where(Delegation.ends_at > now)
    if user_id is not None:
        query = query.where((Delegation.user_id == user_id) | (Delegation.delegate_id == user_id))
    rows = session.exec(query.order_by(col(Delegation.starts_at))).all()
    names = display_names(session, {r.user_id for r in rows} | {r.delegate_id for r in rows})
    return [_delegation_read(session, r, names) for r in rows]


def _delegation_read(
    session: Session, row: Delegation, names: dict[int, str] | None = None
) -> DelegationRead:
    names = names if names is not None else display_names(session, {row.user_id, row.delegate_id})
    return DelegationRead(
        id=row.id or 0,
        user_id=row.user_id,
        user_name=names.get(row.user_id, ""),
        delegate_id=row.delegate_id,
        delegate_name=names.get(row.delegate_id, ""),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
    )


# --- on-call hours -----------------------------------------------------------------------


def _minute_of(text: str, field: str) -> int:
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
    except ValueError:
        raise InvalidInput("give a time as HH:MM, e.g. 09:00", field=field) from None
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 24 * 60:
        raise InvalidInput("give a time between 00:00 and 24:00", field=field)
    return hours * 60 + minutes


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone '{name}' (e.g. Europe/Paris, UTC)", field=field
        ) from None


def shift_covers(shift: OnCallShift, now: datetime) -> bool:
    """Whether the weekly hours cover `now` (in the shift's time zone; an end at or before the
    start runs past midnight into the next day)."""
    local = now.astimezone(ZoneInfo(shift.timezone))
    minute = local.hour * 60 + local.minute
    today, yesterday = local.weekday(), (local.weekday() - 1) % 7
    start, end = shift.start_minute, shift.end_minute
    if start < end:
        return today in shift.weekdays and start <= minute < end
    return (today in shift.weekdays and minute >= start) or (
        yesterday in shift.weekdays and minute < end
    )


def on_call_for(*, session: Session, category: str, now: datetime) -> list[int]:
    """Who is on call for `category` now, by their weekly hours."""
    shifts = session.exec(select(OnCallShift).where(OnCallShift.category == category)).all()
    return list(dict.fromkeys(s.user_id for s in shifts if shift_covers(s, now)))


def add_shift(
    *,
    session: Session,
    caller: UserRead,
    category: str,
    user_id: int,
    weekdays: list[int],
    start: str,
    end: str,
    timezone: str,
    now: datetime,
) -> ShiftRead:
    """An admin puts someone on call for a category, some hours of some weekdays."""
    if not caller.is_admin:
        raise PermissionDenied("only admins set on-call hours")
    category = category.strip()
    if not category:
        raise InvalidInput("name the category", field="category")
    _can_stand_in(session, user_id, "user_id")
    days = sorted(set(weekdays))
    if not days or any(d not in range(7) for d in days):
        raise InvalidInput("choose weekdays from 0 (Monday) to 6 (Sunday)", field="weekdays")
    start_minute, end_minute = _minute_of(start, "start"), _minute_of(end, "end")
    if start_minute == end_minute and start_minute % (24 * 60) == 0:
        start_minute, end_minute = 0, 24 * 60  # all day
    elif start_minute == end_minute:
        raise InvalidInput("the hours are empty: the end equals the start", field="end")
    zone(timezone)
    row = OnCallShift(
        category=category,
        user_id=user_id,
        weekdays=days,
        start_minute=start_minute,
        end_minute=end_minute,
        timezone=timezone,
        created_at=now,
    )
    session.add(row)
    session.flush()
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="on_call.added",
        object_type="on_call_shift",
        object_id=row.id,
        now=now,
        after={
            "category": category,
            "user_id": user_id,
            "hours": _shift_read(session, row).summary,
        },
    )
    return _shift_read(session, row)


def remove_shift(*, session: Session, caller: UserRead, shift_id: int, now: datetime) -> None:
    if not caller.is_admin:
        raise PermissionDenied("only admins set on-call hours")
    row = session.get(OnCallShift, shift_id)
    if row is None:
        raise NotFound("no such on-call shift")
    summary = _shift_read(session, row).summary
    session.delete(row)
    record_audit(
        session=session,
        actor=caller.as_actor(),
        action="on_call.removed",
        object_type="on_call_shift",
        object_id=shift_id,
        now=now,
        before={"category": row.category, "user_id": row.user_id, "hours": summary},
    )


def list_shifts(*, session: Session, category: str | None = None) -> list[ShiftRead]:
    query = select(OnCallShift)
    if category is not None:
        query = query.where(OnCallShift.category == category)
    rows = session.exec(query.order_by(col(OnCallShift.category), col(OnCallShift.id))).all()
    names = display_names(session, {r.user_id for r in rows})
    return [_shift_read(session, r, names) for r in rows]


def _shift_read(
    session: Session, row: OnCallShift, names: dict[int, str] | None = None
) -> ShiftRead:
    names = names if names is not None else display_names(session, {row.user_id})
    return ShiftRead(
        id=row.id or 0,
        category=row.category,
        user_id=row.user_id,
        user_name=names.get(row.user_id, ""),
        weekdays=list(row.weekdays),
        start=_hhmm(row.start_minute),
        end=_hhmm(row.end_minute),
        timezone=row.timezone,
    )
