"""Supervisors at work: proposals arrive live, runs are watched and steered, queued work waits."""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import Page, expect

from supervision_app.client import SupervisionClient
from tests.e2e.conftest import PASSWORD, RunningApp, make_agent_key, make_supervisor, sign_in


def test_proposal_arrives_live_and_is_approved_with_modified_parameters(
    page: Page, running_app: RunningApp
):
    make_supervisor(running_app, "pam")
    bot = SupervisionClient(
        running_app.url, make_agent_key(running_app, "pam-intern", "INTERN", "pam")
    )
    sign_in(page, running_app, "pam", PASSWORD)
    page.goto(f"{running_app.url}/proposals")
    expect(page.get_by_text("No proposals here")).to_be_visible()

    decision = bot.act("export_rows", {"rows": 1000, "table": "orders"}, reason="monthly export")
    card = page.get_by_test_id("proposal-card").filter(has_text="export_rows")
    expect(card).to_be_visible(timeout=15_000)  # no reload: pushed by the live refresh
    expect(page.get_by_role("link", name=re.compile("Proposals"))).to_contain_text("1")
    card.click()
    expect(page.get_by_text("monthly export").first).to_be_visible()
    page.get_by_text("Approve with modified parameters").click()
    editor = page.get_by_role("textbox", name="Modified parameters")
    editor.fill('{"rows": 10, "table": "orders"}')
    expect(page.get_by_test_id("parameters-diff")).to_contain_text('+  "rows": 10')
    page.get_by_role("button", name="Approve modified").click()
    expect(page.get_by_text("Approved: the agent can start.")).to_be_visible()

    run = bot.wait_for_decision(decision, timeout=10, poll=0.5)
    assert bot.execution(run.execution_id)["parameters"] == {"rows": 10, "table": "orders"}


def test_proposal_is_rejected_with_a_reason_the_agent_receives(page: Page, running_app: RunningApp):
    make_supervisor(running_app, "uma")
    bot = SupervisionClient(
        running_app.url, make_agent_key(running_app, "uma-intern", "INTERN", "uma")
    )
    sign_in(page, running_app, "uma", PASSWORD)
    decision = bot.act("delete_customer", {"id": 7}, reason="duplicate record")
    page.goto(f"{running_app.url}/proposals")
    page.get_by_test_id("proposal-card").filter(has_text="delete_customer").click()
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_text("Say why you reject it")).to_be_visible()
    page.get_by_role("textbox", name="Rejection reason").fill("customer 7 is not a duplicate")
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_text("Rejected; the agent is told why.")).to_be_visible()
    status = httpx.get(
        f"{running_app.url}/api/v1/proposals/{decision.proposal_id}",
        headers={"Authorization": f"Bearer {bot._headers['Authorization'][7:]}"},
    ).json()
    assert status["status"] == "rejected" and status["reason"] == "customer 7 is not a duplicate"


def test_a_proposal_its_agent_withdraws_leaves_the_inbox_and_says_why(
    page: Page, running_app: RunningApp
):
    make_supervisor(running_app, "wes")
    bot = SupervisionClient(
        running_app.url, make_agent_key(running_app, "wes-intern", "INTERN", "wes")
    )
    sign_in(page, running_app, "wes", PASSWORD)
    decision = bot.act("send_invoice", {"customer": 9}, reason="month end")
    page.goto(f"{running_app.url}/proposals")
    card = page.get_by_test_id("proposal-card").filter(has_text="send_invoice")
    expect(card).to_be_visible()
    bot.withdraw(decision, "the user closed the chat")
    expect(card).to_have_count(0, timeout=15_000)  # no reload: gone from the pending list
    page.get_by_label("Status").click()
    page.get_by_role("option", name="withdrawn").click()
    card.click()
    expect(page.get_by_text("withdrawn by the agent: the user closed the chat")).to_be_visible()


def test_bad_json_is_explained_and_cannot_be_approved(page: Page, running_app: RunningApp):
    make_supervisor(running_app, "quinn")
    bot = SupervisionClient(
        running_app.url, make_agent_key(running_app, "quinn-intern", "INTERN", "quinn")
    )
    sign_in(page, running_app, "quinn", PASSWORD)
    bot.act("rename_files", {"pattern": "*.tmp"})
    page.goto(f"{running_app.url}/proposals")
    page.get_by_test_id("proposal-card").first.click()
    page.get_by_text("Approve with modified parameters").click()
    page.get_by_role("textbox", name="Modified parameters").fill('{"pattern": ')
    expect(page.get_by_role("alert").filter(has_text="Not valid JSON")).to_be_visible()
    expect(page.get_by_role("button", name="Approve modified")).to_be_disabled()


def test_supervisor_watches_a_run_live_and_steps_in(page: Page, running_app: RunningApp):
    make_supervisor(running_app, "rita")
    key = make_agent_key(running_app, "rita-bot", "SUPERVISED", "rita")
    sign_in(page, running_app, "rita", PASSWORD)  # the open tab makes rita online
    expect(page.locator("#my-presence")).to_contain_text("online")
    bot = SupervisionClient(running_app.url, key)
    decision = bot.act("write_report", {"month": "2026-10"})
    assert decision.decision == "approved_to_run"

    page.goto(f"{running_app.url}/monitoring")
    page.get_by_test_id("run-row").filter(has_text="write_report").get_by_role("link").click()
    expect(page.get_by_role("heading", name="write_report")).to_be_visible()
    headers = {"Authorization": f"Bearer {key}"}
    events_url = f"{running_app.url}/api/v1/executions/{decision.execution_id}/events"
    httpx.post(
        events_url,
        headers=headers,
        json={
            "events": [
                {
                    "type": "progress",
                    "step": "collect",
                    "step_index": 0,
                    "total_steps": 2,
                    "steps": ["collect", "write"],
                },
                {"type": "log", "level": "info", "message": "collected 42 rows"},
                {
                    "type": "output",
                    "kind": "table",
                    "data": {"columns": ["region", "sales"], "rows": [["north", 10]]},
                },
            ]
        },
    )
    expect(page.get_by_test_id("log-line").filter(has_text="collected 42 rows")).to_be_visible(
        timeout=15_000
    )
    expect(page.get_by_test_id("step-current")).to_contain_text("collect")
    expect(page.get_by_role("cell", name="north")).to_be_visible()

    page.get_by_role("checkbox", name="info").click()  # the level filter hides info lines
    expect(page.get_by_test_id("log-line").filter(has_text="collected 42 rows")).to_have_count(0)
    page.get_by_role("checkbox", name="info").click()
    expect(page.get_by_test_id("log-line").filter(has_text="collected 42 rows")).to_be_visible()

    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.get_by_test_id("log-line").filter(has_text="pause")).to_be_visible()
    expect(page.get_by_text("paused", exact=True).first).to_be_visible()
    answer = httpx.post(
        events_url, headers=headers, json={"events": [{"type": "log", "message": "still here"}]}
    ).json()
    assert answer["paused"] and [c["type"] for c in answer["controls"]] == ["pause"]
    held = httpx.post(events_url, headers=headers, json={"events": [{"type": "completed"}]})
    assert held.status_code == 409 and held.json()["status"] == "paused"  # a pause holds

    page.get_by_role("button", name="Resume").click()
    page.get_by_role("button", name="Terminate").click()
    page.get_by_role("textbox", name="Reason to terminate").fill("wrong month")
    page.get_by_role("alertdialog").get_by_role("button", name="Terminate").click()
    expect(page.get_by_text("Run terminated.")).to_be_visible()
    expect(page.get_by_test_id("run-ended-because")).to_contain_text("wrong month")
    state = httpx.get(f"{events_url[:-7]}/control", headers=headers).json()
    assert state["status"] == "terminated" and state["ended"]
    assert [c["type"] for c in state["controls"]] == ["pause", "resume", "terminate"]
    assert state["controls"][-1]["text"] == "wrong month"
    refused = httpx.post(events_url, headers=headers, json={"events": [{"type": "completed"}]})
    assert refused.status_code == 409 and refused.json()["status"] == "terminated"


def test_queued_work_waits_for_the_supervisor_and_starts_when_they_are_back(
    page: Page, running_app: RunningApp
):
    make_supervisor(running_app, "sid")
    bot = SupervisionClient(
        running_app.url, make_agent_key(running_app, "sid-bot", "SUPERVISED", "sid")
    )
    sign_in(page, running_app, "sid", PASSWORD)
    page.get_by_role("button", name="My presence").click()
    page.get_by_role("menuitem", name="Appear offline").click()
    expect(page.locator("#my-presence")).to_contain_text("offline")

    decision = bot.act("send_digest", {"to": "team"}, reason="weekly digest")
    assert decision.decision == "queued"
    page.goto(f"{running_app.url}/queue")
    row = page.get_by_test_id("queue-row").filter(has_text="send_digest")
    expect(row).to_contain_text("pending")
    expect(page.get_by_role("button", name="Next")).to_be_disabled()  # one entry, one page
    # Offline, nobody would watch it: "Run now" is off and says why.
    run_now = row.get_by_role("button", name="Run now")
    expect(run_now).to_be_disabled()
    run_now.locator("..").hover()
    expect(page.get_by_role("tooltip")).to_contain_text("go online to run queued work now")

    page.get_by_role("button", name="My presence").click()
    page.get_by_role("menuitem", name="Follow my activity").click()
    expect(page.locator("#my-presence")).to_contain_text("online")
    expect(row).to_contain_text("executing", timeout=15_000)
    assert [w.execution_id for w in bot.work()] != []

    page.goto(f"{running_app.url}/presence")
    expect(page.get_by_test_id("presence-row").filter(has_text="sid")).to_contain_text("online")


def test_closing_the_tab_ends_its_presence_session_and_a_reload_records_no_flap(
    browser, running_app: RunningApp
):
    make_supervisor(running_app, "tess")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, running_app, "tess", PASSWORD)
    expect(page.locator("#my-presence")).to_contain_text("online")
    token = httpx.post(
        f"{running_app.url}/api/auth/login", json={"username": "tess", "password": PASSWORD}
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    me = httpx.get(f"{running_app.url}/api/auth/me", headers=headers).json()
    activity = f"{running_app.url}/api/users/{me['id']}/activity"

    def ended() -> list[bool]:
        sessions = httpx.get(f"{activity}/sessions", headers=headers).json()
        return sorted(s["ended_at"] is not None for s in sessions)

    def wait_for(expected: list[bool]) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and ended() != expected:
            time.sleep(0.2)
        assert ended() == expected

    assert ended() == [False]
    page.reload()  # the old tab session ends, the reloaded page opens a new one
    expect(page.locator("#my-presence")).to_contain_text("online")
    wait_for([False, True])
    changes = httpx.get(f"{activity}/changes", headers=headers).json()
    assert [(c["from_state"], c["to_state"]) for c in changes] == [("offline", "online")]

    page.close(run_before_unload=True)
    context.close()
    wait_for([True, True])  # offline follows after the reload grace (unit-tested)


def test_a_presence_change_reaches_other_open_tabs_within_a_second(
    browser, running_app: RunningApp
):
    make_supervisor(running_app, "pia")
    make_supervisor(running_app, "wren")
    tabs = []
    for username in ("pia", "pia", "wren"):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        tab = context.new_page()
        sign_in(tab, running_app, username, PASSWORD)
        tabs.append(tab)
    pia, pia_again, wren = tabs
    wren.goto(f"{running_app.url}/presence")
    row = wren.get_by_test_id("presence-row").filter(has_text="pia")
    expect(row).to_contain_text("online")
    expect(wren.get_by_test_id("presence-rules")).to_contain_text("away after 5 minutes")
    expect(pia_again.locator("#my-presence")).to_contain_text("online")

    # Three changes in a row: the other tabs are told at once each time, not at their next
    # check every 2 s (which would meet the 1 s mark for all three about once in eight).
    for item, state in (
        ("Appear away", "away"),
        ("Follow my activity", "online"),
        ("Appear offline", "offline"),
    ):
        pia.get_by_role("button", name="My presence").click()
        pia.get_by_role("menuitem", name=item).click()
        expect(pia.locator("#my-presence")).to_contain_text(state)  # committed, shown here
        expect(row).to_contain_text(state, timeout=1_000)
        expect(pia_again.locator("#my-presence")).to_contain_text(state, timeout=1_000)
    expect(wren.get_by_text("set by hand").first).to_be_visible()
    for tab in tabs:
        tab.context.close()
