"""Monitoring puts the runs that need a look first, and filters as asked."""

from __future__ import annotations

from supervision_app.pages.monitoring import ALL, RunRow, attention_order, matching


def run(id_: int, status: str, stale: bool = False, started: str = "12-02 09:00:00", **kw):
    fields = dict(
        id=id_,
        agent=kw.get("agent", "bot"),
        action="act",
        supervisor="sam",
        supervision=kw.get("supervision", "human"),
        status=status,
        step="",
        percent=0,
        started=started,
        duration="",
        stale=stale,
        silent_for="5 s",
    )
    return RunRow(**fields)


def test_held_then_quiet_then_not_started_then_the_rest_oldest_first():
    rows = [
        run(1, "running", started="12-02 08:00:00"),
        run(2, "ready"),
        run(3, "running", stale=True),
        run(4, "paused", started="12-02 09:30:00"),
        run(5, "paused", started="12-02 09:10:00"),
    ]
    assert [r.id for r in attention_order(rows)] == [5, 4, 3, 2, 1]


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
