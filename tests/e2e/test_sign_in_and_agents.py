"""A newcomer signs in, finds the screens, and registers an agent."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import RunningApp, make_agent_key, make_supervisor, sign_in


def test_wrong_password_shows_a_clear_message(page: Page, running_app: RunningApp, admin_account):
    page.goto(f"{running_app.url}/login")
    page.get_by_label("Username").fill(admin_account[0])
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    expect(page).to_have_url(re.compile(r"/login/?$"))


def test_signed_out_visitor_is_sent_to_sign_in(page: Page, running_app: RunningApp, admin_account):
    page.goto(f"{running_app.url}/agents")
    page.wait_for_url(re.compile(r"/login/?\?next=%2Fagents"))  # and back there afterwards
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_test_id("demo-hint")).to_have_count(0)  # not a demo: no known password


def test_shell_lists_every_screen(page: Page, running_app: RunningApp, admin_account):
    sign_in(page, running_app, *admin_account)
    nav = page.get_by_role("navigation", name="Screens")
    for screen in (
        "Needs you",
        "Monitoring",
        "Proposals",
        "Queue",
        "Agents",
        "Team presence",
        "Audit",
    ):
        expect(nav.get_by_role("link", name=screen)).to_be_visible()
    expect(page.get_by_role("heading", name="Needs you")).to_be_visible()  # the home screen
    nav.get_by_role("link", name="Monitoring").click()
    expect(page.get_by_role("heading", name="Monitoring")).to_be_visible()


def test_admin_registers_agent_and_sees_key_once(
    page: Page, running_app: RunningApp, admin_account
):
    sign_in(page, running_app, *admin_account)
    page.get_by_role("navigation", name="Screens").get_by_role("link", name="Agents").click()
    page.get_by_role("button", name="New agent").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=name]").fill("ui-made-agent")
    dialog.locator("input[name=category]").fill("support")
    dialog.locator("input[name=specialties]").fill("email, refunds")
    dialog.get_by_role("combobox", name="Maturity level").click()
    page.get_by_role("option", name="SUPERVISED").click()
    dialog.get_by_role("button", name="Register agent").click()
    # Nobody to watch it: it could never act, so the form says so and registers nothing.
    expect(dialog).to_contain_text("runs only while its human supervisor watches")
    dialog.get_by_role("combobox", name="Human supervisor").click()
    page.get_by_role("option", name=re.compile(r"\(admin\)")).click()
    dialog.get_by_role("button", name="Register agent").click()

    key = page.locator("#new-api-key")
    expect(key).to_contain_text("sva_")
    key_text = key.inner_text()
    page.get_by_role("button", name="I have stored it").click()
    row = page.get_by_test_id("agent-row").filter(has_text="ui-made-agent")
    expect(row).to_contain_text("SUPERVISED")
    expect(row).to_contain_text("email, refunds")

    page.reload()
    expect(page.get_by_test_id("agent-row").filter(has_text="ui-made-agent")).to_be_visible()
    assert key_text not in page.content()


def test_duplicate_agent_name_is_explained_and_nothing_is_added(
    page: Page, running_app: RunningApp, admin_account
):
    running_app.cli("create-agent", "taken-name", "--category", "ops", "--level", "INTERN")
    sign_in(page, running_app, *admin_account)
    page.goto(f"{running_app.url}/agents")
    page.get_by_role("button", name="New agent").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=name]").fill("taken-name")
    dialog.locator("input[name=category]").fill("ops")
    dialog.get_by_role("button", name="Register agent").click()
    expect(dialog.get_by_role("alert")).to_contain_text("already exists")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("agent-row").filter(has_text="taken-name")).to_have_count(1)


def test_admin_changes_level_and_disables_agent(page: Page, running_app: RunningApp, admin_account):
    running_app.cli("create-agent", "level-change-bot", "--category", "ops", "--level", "INTERN")
    sign_in(page, running_app, *admin_account)
    page.goto(f"{running_app.url}/agents")
    row = page.get_by_test_id("agent-row").filter(has_text="level-change-bot")
    row.get_by_role("combobox", name="Change level of level-change-bot").click()
    page.get_by_role("option", name="STUDENT").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("every request it makes is refused")  # asks first
    dialog.get_by_role("button", name="Keep as it is").click()
    expect(row).to_contain_text("INTERN")

    row.get_by_role("combobox", name="Change level of level-change-bot").click()
    page.get_by_role("option", name="AUTONOMOUS").click()
    expect(dialog).to_contain_text("Make level-change-bot AUTONOMOUS?")
    dialog.get_by_role("button", name="Change level").click()
    expect(page.get_by_text("Level changed to AUTONOMOUS.")).to_be_visible()
    row.get_by_role("button", name="Disable").click()
    expect(dialog).to_contain_text("Every request it makes is refused")
    dialog.get_by_role("button", name="Disable").click()
    expect(row).to_contain_text("disabled")
    page.reload()
    row = page.get_by_test_id("agent-row").filter(has_text="level-change-bot")
    expect(row).to_contain_text("AUTONOMOUS")
    expect(row).to_contain_text("disabled")


def test_audit_screen_reads_each_event_as_a_sentence_and_verifies_the_chain(
    page: Page, running_app: RunningApp, admin_account
):
    running_app.cli("create-agent", "audited-bot", "--category", "ops", "--level", "INTERN")
    sign_in(page, running_app, *admin_account)
    page.goto(f"{running_app.url}/audit")
    page.get_by_placeholder("Filter by action").fill("agent.created")
    row = page.get_by_test_id("audit-event").filter(has_text="audited-bot")
    expect(row).to_contain_text("The system (cli) created agent")
    row.get_by_text("What changed").click()
    expect(row.get_by_text("maturity_level")).to_be_visible()
    expect(row).to_contain_text("INTERN")
    expect(row.get_by_role("link")).to_have_attribute("href", re.compile(r"/history/\d+$"))
    page.get_by_placeholder("By who, e.g. sam").fill("nobody-by-that-name")
    expect(row).to_have_count(0)
    # Fewer events than a page: there is no next page to go to.
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    page.get_by_role("button", name="Verify chain").click()
    expect(page.get_by_text(re.compile(r"Chain intact: \d+ events verified")).first).to_be_visible()


def test_an_agent_whose_supervisor_was_demoted_is_flagged_and_reassigned(
    page: Page, running_app: RunningApp, admin_account
):
    make_supervisor(running_app, "dora")
    make_supervisor(running_app, "ezra")
    make_agent_key(running_app, "dora-bot", "INTERN", "dora")
    login = httpx.post(
        f"{running_app.url}/api/auth/login",
        json={"username": admin_account[0], "password": admin_account[1]},
    ).json()
    headers = {"Authorization": f"Bearer {login['token']}"}
    users = httpx.get(f"{running_app.url}/api/users", headers=headers).json()
    users = users["items"] if isinstance(users, dict) else users
    dora = next(user for user in users if user["username"] == "dora")
    demoted = httpx.patch(
        f"{running_app.url}/api/users/{dora['id']}", json={"role": "viewer"}, headers=headers
    )
    assert demoted.status_code == 200, demoted.text

    sign_in(page, running_app, *admin_account)
    page.goto(f"{running_app.url}/agents")
    row = page.get_by_role("row").filter(has_text="dora-bot")
    expect(row.get_by_text("needs a supervisor")).to_be_visible()
    row.get_by_role("combobox", name="Supervisor of dora-bot").click()
    page.get_by_role("option", name="ezra", exact=True).click()
    expect(page.get_by_text("Supervisor changed")).to_be_visible()
    expect(row.get_by_text("needs a supervisor")).to_have_count(0)


def test_times_read_in_the_viewers_own_time_zone_with_utc_on_hover(
    browser, running_app: RunningApp, admin_account
):
    """A supervisor in Tokyo reads the audit in Tokyo time; the exact UTC time is on hover."""
    running_app.cli("create-agent", "tokyo-bot", "--category", "ops", "--level", "INTERN")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Asia/Tokyo")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, running_app, *admin_account)
        page.goto(f"{running_app.url}/audit")
        page.get_by_placeholder("Filter by action").fill("agent.created")
        row = page.get_by_test_id("audit-event").filter(has_text="tokyo-bot")
        shown = row.get_by_text(re.compile(r"\d\d:\d\d:\d\d JST$"))
        expect(shown).to_be_visible()
        expect(shown).to_have_attribute(
            "title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
        )
        local_hour = int(shown.inner_text()[-12:-10])
        utc_hour = int(shown.get_attribute("title")[11:13])
        assert (utc_hour + 9) % 24 == local_hour
    finally:
        context.close()
