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


def test_a_time_reads_in_the_viewers_zone_with_its_abbreviation() -> None:
    from zoneinfo import ZoneInfo

    from supervision_app.components.timefmt import exact_utc

    paris = ZoneInfo("Europe/Paris")
    at = datetime(2026, 11, 28, 8, 5, 9, tzinfo=UTC)
    assert clock_time(at, NOW, paris) == "09:05 CET"
    assert clock_time(at, NOW, paris, seconds=True) == "09:05:09 CET"
    assert exact_utc(at) == "2026-11-28 08:05:09 UTC"
    # 23:30 UTC is already tomorrow in Tokyo: the viewer's day decides whether a date shows.
    late = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
    assert clock_time(late, NOW, ZoneInfo("Asia/Tokyo")) == "2026-11-29 08:30 JST"
    # Stored times are naive UTC.
    assert clock_time(at.replace(tzinfo=None), NOW, paris) == "09:05 CET"


def test_the_zone_comes_from_the_browsers_cookie_and_falls_back_to_utc() -> None:
    from supervision_app.components.timefmt import zone_from_cookies

    assert str(zone_from_cookies("a=1; sv_tz=America%2FNew_York")) == "America/New_York"
    assert str(zone_from_cookies("sv_tz=Europe/Paris")) == "Europe/Paris"
    for header in ("", None, "sv_tz=Mars/Olympus", "sv_tz=../../etc/passwd", 'sv_tz="x'):
        assert zone_from_cookies(header) is UTC, header
