"""Times as the dashboard shows them: server time in UTC, with the date when it is not today."""

from __future__ import annotations

from datetime import datetime


def clock_time(at: datetime, now: datetime) -> str:
    """ "14:05 UTC" today, "2026-11-26 14:05 UTC" on another day ("since 14:05" alone would
    read as today for someone offline since last week)."""
    if at.date() == now.date():
        return at.strftime("%H:%M UTC")
    return at.strftime("%Y-%m-%d %H:%M UTC")


def span(seconds: float) -> str:
    """A length of time: "45 s", "3 min 05 s", "2 h 10 min"."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
