"""Nothing is wider than a 360 px phone, on any screen, for any role: what does not fit
wraps (wide tables scroll inside their own box, never the page)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from supervision_app.client import SupervisionClient
from tests.databases import on_postgres
from tests.e2e.conftest import (
    PASSWORD,
    RunningApp,
    make_agent_key,
    make_supervisor,
    sign_in,
)

pytestmark = [
    pytest.mark.usefixtures("admin_account"),
    # What the pages render does not depend on the database; PostgreSQL runs the flows.
    pytest.mark.skipif(on_postgres(), reason="rendering is checked once, on SQLite"),
]

PHONE = {"width": 360, "height": 780}
# Every screen of the sidebar (supervision_app/supervision_app.py SCREENS); a run's page and
# an agent's history are added with ids of their own.
SCREENS = [
    "/",
    "/monitoring",
    "/proposals",
    "/queue",
    "/agents",
    "/presence",
    "/audit",
    "/users",
    "/reviewers",
    "/escalation",
]


CELLS_OFF_SCREEN = """() => Array.from(document.querySelectorAll('tbody td'))
  .filter((cell) => cell.getBoundingClientRect().right > window.innerWidth + 1).length"""


def too_wide(
    browser: Browser,
    app: RunningApp,
    username: str,
    password: str,
    paths: list[str],
    shows: dict[str, str],
) -> dict[str, int | str]:
    """The screens wider than the phone, measured once each shows its data (`shows`: the
    long text a screen must be showing first, where this user sees one)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, app, username, password)  # it waits for the name the desktop header shows
    page.set_viewport_size(PHONE)
    wide = {}
    for path in paths:
        page.goto(f"{app.url}{path}")
        page.get_by_role("heading").first.wait_for()  # signed in, the screen drawn
        expect(page.locator("[aria-busy=true]")).to_have_count(0)  # its data arrived
        if path in shows:
            expect(page.get_by_text(shows[path]).first).to_be_visible(timeout=15_000)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide[path] = width
        # A table scrolled inside its own box hides columns without widening the page.
        if page.evaluate(CELLS_OFF_SCREEN):
            wide[path] = f"{page.evaluate(CELLS_OFF_SCREEN)} table cells off screen"
    context.close()
    return wide


def test_no_screen_is_wider_than_a_phone_for_any_role(
    browser: Browser, running_app: RunningApp, admin_account
):
    make_supervisor(running_app, "phoebe")
    running_app.cli("create-user", "vera", "--role", "viewer", "--password", PASSWORD)
    bot = SupervisionClient(
        running_app.url,
        make_agent_key(running_app, "phoebe-bot-with-a-rather-long-name", "SUPERVISED", "phoebe"),
    )
    queued = bot.act("a_rather_long_action_name_for_a_phone", {"k": "v" * 80}, reason="x" * 200)
    assert queued.decision == "queued"
    intern = SupervisionClient(
        running_app.url, make_agent_key(running_app, "phoebe-intern", "INTERN", "phoebe")
    )
    proposed = intern.act("send_email", {"to": "someone@example.com"}, reason="y" * 200)
    assert proposed.decision == "proposed"
    auto = SupervisionClient(
        running_app.url, make_agent_key(running_app, "phoebe-auto", "AUTONOMOUS")
    )
    run = auto.act("summarise_a_very_long_document_title", {"pages": list(range(40))})
    assert run.decision == "approved_to_run"
    agent_id = intern.me()["agent"]["id"]
    screens = [*SCREENS, f"/runs/{run.execution_id}", f"/history/{agent_id}"]

    long_reason = {"/": "y" * 40}  # the proposal's reason, one unbroken word
    shows = {
        admin_account[0]: {
            **long_reason,
            f"/runs/{run.execution_id}": "summarise_a_very_long_document_title",
            f"/history/{agent_id}": "send_email",
        },
        "phoebe": {**long_reason, f"/history/{agent_id}": "send_email"},
        "vera": {},
    }
    for username, password in (admin_account, ("phoebe", PASSWORD), ("vera", PASSWORD)):
        wide = too_wide(browser, running_app, username, password, screens, shows[username])
        assert wide == {}, username


def test_the_phone_menu_holds_what_the_sidebar_and_header_hold(
    browser: Browser, running_app: RunningApp, admin_account
):
    intern = SupervisionClient(
        running_app.url, make_agent_key(running_app, "menu-intern", "INTERN")
    )
    assert intern.act("send_email", {"to": "someone@example.com"}).decision == "proposed"
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        sign_in(page, running_app, *admin_account)
        page.set_viewport_size(PHONE)
        page.get_by_role("button", name="Menu").click()
        menu = page.get_by_role("menu")
        expect(menu).to_contain_text(f"{admin_account[0]} · admin")  # who is signed in
        needs_you = menu.get_by_role("menuitem", name="Needs you")
        expect(needs_you).to_contain_text(re.compile(r"Needs you\s*[1-9]"))  # with its count
        expect(menu.get_by_role("menuitem", name="Users")).to_be_visible()
        expect(menu).to_contain_text("Theme")
        menu.get_by_role("menuitem", name="Dark").click()
        expect(page.locator("html")).to_have_class(re.compile("dark"))
        expect(page.get_by_role("menu")).to_have_count(0)  # choosing closes the menu
        page.get_by_role("button", name="Menu").click()
        page.get_by_role("menu").get_by_role("menuitem", name="Light").click()
        expect(page.locator("html")).to_have_class(re.compile("light"))
        page.get_by_role("button", name="Menu").click()
        page.get_by_role("menu").get_by_role("menuitem", name="Users").click()
        expect(page.get_by_role("heading", name="Users")).to_be_visible()
    finally:
        context.close()


def test_tapping_a_proposal_on_a_phone_shows_it(browser: Browser, running_app: RunningApp):
    make_supervisor(running_app, "tapper")
    bot = SupervisionClient(
        running_app.url, make_agent_key(running_app, "tap-intern", "INTERN", "tapper")
    )
    for number in range(6):  # a list longer than the screen
        bot.act(f"tap_check_{number}", {"n": number}, reason="a reason long enough to take room")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, running_app, "tapper", PASSWORD)
    page.set_viewport_size(PHONE)
    page.goto(f"{running_app.url}/proposals")
    page.get_by_test_id("proposal-card").filter(has_text="tap_check_0").click()
    detail = page.locator("#proposal-detail")
    expect(detail.get_by_role("heading", name="tap_check_0")).to_be_in_viewport()
    context.close()
