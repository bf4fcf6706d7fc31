"""Each role sees screens that agree with themselves: an admin's Queue shows the team's work
(what the sidebar counts) with a switch to their own, and only an entry's supervisor may run
it now."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from supervision_app.client import SupervisionClient
from tests.e2e.conftest import RunningApp, make_agent_key, make_supervisor, sign_in

pytestmark = pytest.mark.usefixtures("admin_account")


def test_an_admin_sees_the_teams_queue_and_can_switch_to_their_own(
    page: Page, running_app: RunningApp, admin_account
):
    make_supervisor(running_app, "queenie")  # never signed in: offline, so work queues
    bot = SupervisionClient(
        running_app.url, make_agent_key(running_app, "queenie-bot", "SUPERVISED", "queenie")
    )
    assert bot.act("archive_tickets", {"older_than": "90d"}).decision == "queued"

    sign_in(page, running_app, *admin_account)
    page.goto(f"{running_app.url}/queue")
    row = page.get_by_test_id("queue-row").filter(has_text="archive_tickets")
    expect(row).to_contain_text("for queenie")
    expect(row.get_by_role("button", name="Run now")).to_have_count(0)  # queenie's to run

    page.get_by_role("radio", name="Mine").click()
    expect(page.get_by_test_id("queue-row")).to_have_count(0)
    expect(page.get_by_text("Nothing waiting for you")).to_be_visible()
    page.get_by_role("radio", name="Team").click()
    expect(row).to_be_visible()
