"""Each role sees screens that agree with themselves: an admin's Queue shows the team's work
(what the sidebar counts) with a switch to their own, and only an entry's supervisor may run
it now."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from supervision_app.client import SupervisionClient
from tests.e2e.conftest import PASSWORD, RunningApp, make_agent_key, make_supervisor, sign_in

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


def test_a_viewer_follows_the_teams_runs_read_only(
    page: Page, running_app: RunningApp, admin_account
):
    """A viewer finds the team's runs on Monitoring, follows one live and the agent's history,
    and is told who steers instead of meeting buttons that would refuse them."""
    make_supervisor(running_app, "vesna")
    running_app.cli("create-user", "vlad", "--role", "viewer", "--password", PASSWORD)
    bot = SupervisionClient(
        running_app.url, make_agent_key(running_app, "vesna-auto", "AUTONOMOUS", "vesna")
    )
    run = bot.run(bot.act("reindex_search", {"shards": 3}).execution_id)
    run.log("reindexed shard 1")

    sign_in(page, running_app, "vlad", PASSWORD)
    page.goto(f"{running_app.url}/monitoring")
    row = page.get_by_test_id("run-row").filter(has_text="reindex_search")
    expect(row).to_contain_text("vesna")
    row.get_by_role("link", name="vesna-auto").click()
    expect(page.get_by_test_id("read-only-run")).to_contain_text("You are watching")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    expect(page.get_by_text("reindexed shard 1")).to_be_visible()
    run.log("reindexed shard 2")  # live, like anyone watching
    expect(page.get_by_text("reindexed shard 2")).to_be_visible()
    page.get_by_test_id("run-header").get_by_role("link", name="vesna-auto").click()
    expect(page.get_by_role("heading", name="vesna-auto")).to_be_visible()
    expect(page.get_by_text("reindex_search").first).to_be_visible()
