"""Times as the dashboard shows them: one format everywhere, in the viewer's time zone (the
browser's, sent as the `sv_tz` cookie), with the exact UTC time for the hover title."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from http.cookies import CookieError, SimpleCookie
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ZONE_COOKIE = "sv_tz"
# Runs in the page's <head>, before the websocket opens, so the first page is already in the
# viewer's zone. The name is the browser's IANA zone ("Europe/Paris"); nothing else is sent.
ZONE_COOKIE_SCRIPT = (
    "try { document.cookie = 'sv_tz=' + encodeURIComponent("
    "Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC')"
    " + '; path=/; max-age=31536000; SameSite=Lax'; } catch (e) {}"
)


def zone_named(name: str | None) -> tzinfo:
    """The zone called `name`, or UTC for a missing or unknown name (the cookie is the
    browser's word: never trusted to be a real zone)."""
    if not name or len(name) > 64:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def zone_from_cookies(cookie_header: str | None) -> tzinfo:
    """The viewer's zone from a request's Cookie header."""
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header or "")
    except CookieError:
        return UTC
    morsel = cookies.get(ZONE_COOKIE)
    return zone_named(unquote(morsel.value) if morsel else None)


def _aware(at: datetime) -> datetime:
    """Stored times are naive UTC (SQLite drops the zone)."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def clock_time(at: datetime, now: datetime, zone: tzinfo = UTC, *, seconds: bool = False) -> str:
    """ "14:05 CET" today, "2026-11-26 14:05 CET" on another day (the viewer's day: "since
    14:05" alone would read as today for someone offline since last week). The zone's
    abbreviation is always there, so nobody wonders whose 14:05 it is."""
    local = _aware(at).astimezone(zone)
    today = _aware(now).astimezone(zone).date()
    clock = "%H:%M:%S" if seconds else "%H:%M"
    if local.date() == today:
        return local.strftime(f"{clock} %Z")
    return local.strftime(f"%Y-%m-%d {clock} %Z")


def local_clock(at: datetime, zone: tzinfo = UTC) -> str:
    """The viewer's clock to the second, for lines under a header that says the day and zone
    (a run's log): "14:05:09"."""
    return _aware(at).astimezone(zone).strftime("%H:%M:%S")


def day(at: datetime, zone: tzinfo = UTC) -> str:
    """The viewer's calendar day of `at`: "2026-11-26"."""
    return _aware(at).astimezone(zone).strftime("%Y-%m-%d")


def period(start: datetime, end: datetime, zone: tzinfo = UTC) -> str:
    """From–to in the viewer's zone, with the dates: "2026-12-02 01:00 – 2026-12-05 01:00 CET"."""
    first = _aware(start).astimezone(zone)
    last = _aware(end).astimezone(zone)
    return f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M %Z}"


def exact_utc(at: datetime) -> str:
    """The hover title: the exact instant in UTC, to the second ("2026-11-26 13:05:12 UTC")."""
    return _aware(at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float) -> str:
    """A length of time: "45 s", "3 min 05 s", "2 h 10 min"."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
