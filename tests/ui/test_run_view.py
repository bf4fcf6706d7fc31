"""What the run page shows for a run's state and events (no browser needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from services.execution_events import EventRead
from services.policy import LivenessPolicy
from supervision_app.pages import run_view

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def event(seq: int, kind: str, message: str | None = None, level: str | None = None, data=None):
    return EventRead(
        id=seq,
        execution_id=1,
        seq=seq,
        kind=kind,
        level=level,
        message=message,
        data=data,
        created_at=NOW,
    )


def test_a_run_that_ended_otherwise_than_completed_shows_no_step_in_progress():
    names = ["collect", "write", "send"]
    running = run_view.steps(names, "write", "running")
    assert [s.state for s in running] == ["done", "current", "todo"]
    for ended in ("failed", "terminated", "lost"):
        assert [s.state for s in run_view.steps(names, "write", ended)] == [
            "done",
            "stopped",
            "todo",
        ]
    assert {s.state for s in run_view.steps(names, "write", "completed")} == {"done"}


def test_steps_come_from_a_listed_plan_or_from_the_steps_named_as_they_happen():
    listed = event(1, "progress", "collect", data={"steps": ["collect", "write"]})
    assert run_view.step_names_after([], listed) == ["collect", "write"]
    named = event(2, "progress", "review", data={"percent": 50})
    assert run_view.step_names_after(["collect"], named) == ["collect", "review"]
    assert run_view.step_names_after(["collect"], event(3, "log", "x")) == ["collect"]


def test_the_log_shows_chosen_levels_and_matches_any_case_but_always_shows_steering():
    lines = [
        run_view.log_line(event(1, "log", "Fetched 10 rows", "debug")),
        run_view.log_line(event(2, "log", "fetched 20 rows", "info")),
        run_view.log_line(event(3, "control", "pause by sam", "info")),
        run_view.log_line(event(4, "failed", "disk full")),
    ]
    shown = run_view.visible_lines(lines, ["info"], "FETCHED")
    assert [line.seq for line in shown] == [2]
    shown = run_view.visible_lines(lines, ["warning"], "")
    assert [line.message for line in shown] == ["⟫ pause by sam", "■ run failed: disk full"]
    assert [line.seq for line in run_view.visible_lines(lines, ["debug", "info"], "", 2)] == [3, 4]


def test_progress_events_are_not_log_lines():
    assert run_view.log_line(event(1, "progress", "collect")) is None


def test_an_output_becomes_the_card_it_asked_for():
    table = run_view.output_view(
        {"kind": "table", "data": {"columns": ["a"], "rows": [[1], [2]]}, "title": "Totals"}
    )
    assert (table.kind, table.title, table.table.rows) == ("table", "Totals", [["1"], ["2"]])
    chart = run_view.output_view(
        {"kind": "chart", "data": {"type": "bar", "x": ["mon"], "series": {"n": [3]}}}
    )
    assert (chart.chart_type, chart.chart, chart.series) == ("bar", [{"x": "mon", "n": 3}], ["n"])
    unknown = run_view.output_view({"kind": "movie", "data": {"frames": 2}})
    assert unknown.kind == "json" and '"frames": 2' in unknown.text


def test_a_lost_run_says_when_the_agent_was_last_heard_and_why_it_ended():
    run = SimpleNamespace(
        action="send",
        parameters={"to": "x"},
        status="lost",
        last_seen_at=NOW - timedelta(minutes=12, seconds=5),
        error="no word from the agent for 10 min",
        supervision="human",
        started_at=NOW - timedelta(minutes=20),
        created_at=NOW - timedelta(minutes=21),
        progress_percent=40.0,
        current_step="write",
    )
    liveness = LivenessPolicy(stale_after=timedelta(minutes=2), lost_after=timedelta(minutes=10))
    view = run_view.snapshot(run, NOW, liveness)
    assert view["last_heard"] == "09:17 UTC (12 min 05 s ago)"
    assert view["ended_because"] == "no word from the agent for 10 min"
    assert view["stale"] is False  # lost, not stale: it has ended
    assert view["started"] == "09:10 UTC"
