"""Monitoring puts the runs that need a look first, and filters as asked."""

from __future__ import annotations

from supervision_app.pages.monitoring import ALL, RunRow, attention_order, matching


def run(id_: int, status: str, stale: bool = False, started: str = "2026-12-02T09:00:00", **kw):
    fields = dict(
        id=id_,
        agent=kw.get("agent", "bot"),
        action="act",
        supervisor="sam",
        supervision=kw.get("supervision", "human"),
        status=status,
        step="",
        percent=0,
        started=started[5:].replace("T", " "),
        started_sort=started,
        duration="",
        stale=stale,
        silent_for="5 s",
    )
    return RunRow(**fields)


def test_held_then_quiet_then_not_started_then_the_rest_oldest_first():
    rows = [
        run(1, "running", started="2026-12-02T08:00:00"),
        run(2, "ready"),
        run(3, "running", stale=True),
        run(4, "paused", started="2026-12-02T09:30:00"),
        run(5, "paused", started="2026-12-02T09:10:00"),
        run(6, "running", started="2027-01-01T00:10:00"),
        run(7, "running", started="2026-12-31T23:50:00"),  # before 6, across the year
    ]
    assert [r.id for r in attention_order(rows)] == [5, 4, 3, 2, 1, 7, 6]


def test_filters_by_agent_status_and_supervision():
    rows = [
        run(1, "running", agent="a"),
        run(2, "running", stale=True, agent="b", supervision="autonomous"),
        run(3, "paused", agent="b"),
    ]
    assert [r.id for r in matching(rows, "b", ALL, ALL)] == [2, 3]
    assert [r.id for r in matching(rows, ALL, "stale", ALL)] == [2]
    assert [r.id for r in matching(rows, ALL, "running", "autonomous")] == [2]
    assert matching(rows, ALL, ALL, ALL) == rows
