"""Times as the dashboard shows them: server time in UTC, with the date when it is not today."""

from __future__ import annotations

from datetime import datetime


def clock_time(at: datetime, now: datetime) -> str:
    """ "14:05 UTC" today, "2026-11-26 14:05 UTC" on another day ("since 14:05" alone would
    read as today for someone offline since last week)."""
    if at.date() == now.date():
        return at.strftime("%H:%M UTC")
    return at.strftime("%Y-%m-%d %H:%M UTC")
