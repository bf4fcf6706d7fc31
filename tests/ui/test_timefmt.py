"""How the dashboard writes a time."""

from __future__ import annotations

from datetime import UTC, datetime

from supervision_app.components.timefmt import clock_time

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def test_a_time_today_shows_the_clock_only() -> None:
    assert clock_time(datetime(2026, 11, 28, 0, 5, tzinfo=UTC), NOW) == "00:05 UTC"


def test_a_time_on_another_day_shows_its_date() -> None:
    yesterday = datetime(2026, 11, 27, 23, 55, tzinfo=UTC)
    assert clock_time(yesterday, NOW) == "2026-11-27 23:55 UTC"
    tomorrow = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)  # an override's expiry
    assert clock_time(tomorrow, NOW) == "2026-11-29 08:00 UTC"


def test_a_span_reads_in_the_largest_fitting_unit() -> None:
    from supervision_app.components.timefmt import span

    assert [span(s) for s in (0, 45, 185, 7800, -3)] == [
        "0 s",
        "45 s",
        "3 min 05 s",
        "2 h 10 min",
        "0 s",
    ]
