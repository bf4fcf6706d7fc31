"""The dashboard is pushed to, not polled: a run's lines appear as the agent reports them, a
finished run looks finished, a lost connection is said in words, and sign-in returns to the
page that was asked for."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from supervision_app.client import SupervisionClient
from tests.e2e.conftest import PASSWORD, RunningApp, make_agent_key, make_supervisor, sign_in

# The first admin is made on the first-run screen before these tests add users by CLI.
pytestmark = pytest.mark.usefixtures("admin_account")


def start_run(page: Page, app: RunningApp, supervisor: str, action: str) -> tuple[str, int]:
    """A supervisor signed in (so online) and a run of their SUPERVISED agent; its key and id."""
    make_supervisor(app, supervisor)
    key = make_agent_key(app, f"{supervisor}-bot", "SUPERVISED", supervisor)
    sign_in(page, app, supervisor, PASSWORD)
    expect(page.locator("#my-presence")).to_contain_text("online")
    decision = SupervisionClient(app.url, key).act(action, {"n": 1})
    assert decision.decision == "approved_to_run"
    return key, decision.execution_id


def test_each_new_line_reaches_the_open_run_page_within_a_second(page: Page, running_app):
    key, run = start_run(page, running_app, "lena", "tidy_up")
    page.goto(f"{running_app.url}/runs/{run}")
    expect(page.get_by_role("heading", name="tidy_up")).to_be_visible()
    events_url = f"{running_app.url}/api/v1/executions/{run}/events"
    headers = {"Authorization": f"Bearer {key}"}
    time.sleep(1)  # the page's change follower has started
    for index in range(5):
        httpx.post(
            events_url,
            headers=headers,
            json={"events": [{"type": "log", "message": f"line {index}"}]},
        ).raise_for_status()
        # Pushed: far sooner than the page's 5 s timer would have shown it.
        expect(page.get_by_test_id("log-line").filter(has_text=f"line {index}")).to_be_visible(
            timeout=1000
        )
    expect(page.get_by_role("button", name=re.compile(r"^(Hold the log|Follow)"))).to_be_visible()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()

    httpx.post(
        events_url,
        headers=headers,
        json={
            "events": [
                {
                    "type": "progress",
                    "step": "sweep",
                    "step_index": 0,
                    "total_steps": 2,
                    "steps": ["sweep", "report"],
                },
                {"type": "failed", "error": "disk full"},
            ]
        },
    ).raise_for_status()
    expect(page.get_by_test_id("run-header").get_by_text("failed", exact=True)).to_be_visible(
        timeout=1000
    )
    # Finished looks finished: nothing in progress, nothing more promised, nothing to hold.
    expect(page.get_by_test_id("step-current")).to_have_count(0)
    expect(page.get_by_test_id("step-stopped")).to_contain_text("sweep")
    expect(page.get_by_text("The run ended without output.")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"^(Hold the log|Follow)"))).to_have_count(0)
    expect(page.get_by_role("button", name="Pause", exact=True)).to_have_count(0)
    expect(page.get_by_test_id("run-ended-because")).to_contain_text("disk full")


def test_signing_in_returns_to_the_page_that_was_asked_for(browser: Browser, running_app):
    context = browser.new_context()
    page = context.new_page()
    _, run = start_run(page, running_app, "otto", "deep_link")
    context.clear_cookies()  # signed out

    page.goto(f"{running_app.url}/runs/{run}")
    page.wait_for_url(re.compile(r"/login\?next=%2Fruns%2F" + str(run) + "$"))
    page.get_by_label("Username").fill("otto")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{running_app.url}/runs/{run}")
    expect(page.get_by_role("heading", name="deep_link")).to_be_visible()

    context.clear_cookies()  # a link elsewhere is never followed
    page.goto(f"{running_app.url}/login?next=https://example.org/")
    page.get_by_label("Username").fill("otto")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{running_app.url}/")
    context.close()


def test_a_lost_connection_is_said_in_words_and_live_returns_with_it(page: Page, running_app):
    blocked = False
    open_sockets: list[WebSocketRoute] = []

    def refuse(route: WebSocketRoute) -> None:
        """Every attempt fails, as against a server that is down: Engine.IO opens, then the
        Socket.IO namespace answers CONNECT_ERROR."""
        route.send('0{"sid":"down","upgrades":[],"pingInterval":25000,"pingTimeout":20000}')
        route.on_message(
            lambda message: (
                route.send('44/_event,{"message":"server down"}')
                if str(message).startswith("40")
                else None
            )
        )

    def websocket(route: WebSocketRoute) -> None:
        if blocked:
            refuse(route)
            return
        route.connect_to_server()
        open_sockets.append(route)

    page.route_web_socket(re.compile(r"/_event"), websocket)
    make_supervisor(running_app, "cora")
    intern = SupervisionClient(
        running_app.url, make_agent_key(running_app, "cora-intern", "INTERN", "cora")
    )
    sign_in(page, running_app, "cora", PASSWORD)
    indicator = page.locator("#live-indicator")
    expect(indicator).to_contain_text("live")
    expect(page.locator("#connection-lost")).to_have_count(0)

    blocked = True
    for route in open_sockets:
        route.close()
    expect(page.locator("#connection-lost")).to_contain_text("reconnecting", timeout=15_000)
    expect(indicator).to_contain_text(re.compile(r"reconnecting · last update \d\d:\d\d:\d\d"))
    expect(page.get_by_text("Cannot connect to server")).to_have_count(0)  # no raw toast
    intern.act("while_away", {"n": 1})  # its push cannot reach the page now

    blocked = False
    expect(page.locator("#connection-lost")).to_have_count(0, timeout=30_000)
    expect(indicator).to_contain_text("live")
    # Reconnected, the page is loaded again: what happened meanwhile is there.
    expect(page.get_by_test_id("inbox-item").filter(has_text="while_away")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Needs you"))).to_contain_text("1")
    expect(page).to_have_title(re.compile(r"^\(1\) Needs you"))


def test_a_change_no_push_announces_reaches_the_open_page(page: Page, running_app):
    make_supervisor(running_app, "sia")
    sign_in(page, running_app, "sia", PASSWORD)
    page.goto(f"{running_app.url}/agents")
    expect(page.get_by_role("heading", name="Agents")).to_be_visible()
    # Another process (the command line) commits: no push reaches this app's pages.
    make_agent_key(running_app, "sia-cli-bot", "INTERN", "sia")
    expect(page.get_by_test_id("agent-row").filter(has_text="sia-cli-bot")).to_be_visible(
        timeout=15_000
    )
