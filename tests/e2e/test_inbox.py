""" "Needs you", worked as a supervisor works it: from the keyboard, several at once, and with
someone else deciding at the same moment."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from supervision_app.client import NotApproved, SupervisionClient
from tests.e2e.conftest import PASSWORD, RunningApp, make_agent_key, make_supervisor, sign_in

# The first admin is made on the first-run screen before these tests add users by CLI.
pytestmark = pytest.mark.usefixtures("admin_account")


def intern_of(app: RunningApp, supervisor: str) -> SupervisionClient:
    make_supervisor(app, supervisor)
    return SupervisionClient(
        app.url, make_agent_key(app, f"{supervisor}-intern", "INTERN", supervisor)
    )


def items(page: Page):
    return page.get_by_test_id("inbox-item")


def test_approve_and_reject_from_the_keyboard(page: Page, running_app: RunningApp):
    bot = intern_of(running_app, "ines")
    sign_in(page, running_app, "ines", PASSWORD)
    expect(page.get_by_role("heading", name="Needs you")).to_be_visible()
    first = bot.act("alpha_export", {"rows": 1})
    second = bot.act("beta_export", {"rows": 2})
    third = bot.act("gamma_export", {"rows": 3})
    expect(items(page)).to_have_count(3)  # pushed: no reload
    page.keyboard.down("a")  # a key held down repeats: it still approves one proposal
    page.keyboard.down("a")
    page.keyboard.down("a")
    page.keyboard.up("a")
    expect(page.get_by_text("Approved: the agent can start.")).to_be_visible()
    bot.wait_for_decision(first, timeout=10, poll=0.2)
    expect(items(page)).to_have_count(2)
    page.wait_for_timeout(500)
    expect(items(page)).to_have_count(2)
    first, second = second, third
    expect(items(page).first).to_contain_text("beta_export")  # oldest first
    expect(items(page).first).to_contain_text('{"rows": 2}')  # its parameters in view
    expect(page.get_by_role("link", name=re.compile("Needs you"))).to_contain_text("2")
    expect(page).to_have_title(re.compile(r"^\(2\) Needs you"))

    page.keyboard.press("?")
    expect(page.get_by_test_id("inbox-help")).to_contain_text("approve")
    page.keyboard.press("a")
    expect(page.get_by_text("Approved: the agent can start.").last).to_be_visible()
    bot.wait_for_decision(first, timeout=10, poll=0.2)  # approved: it may run
    expect(items(page)).to_have_count(1)
    expect(page).to_have_title(re.compile(r"^\(1\) Needs you"))

    page.keyboard.press("r")
    reason = page.get_by_role("textbox", name="Reason to reject")
    expect(reason).to_be_focused()
    reason.press_sequentially("not this month, a j r")  # keys typed here do not act
    expect(items(page)).to_have_count(1)
    reason.press("Enter")
    expect(page.get_by_text("Rejected; the agent is told why.")).to_be_visible()
    with pytest.raises(NotApproved, match="not this month, a j r"):
        bot.wait_for_decision(second, timeout=10, poll=0.2)
    expect(page.get_by_text("Nothing needs you")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Needs you"))


def test_low_risk_proposals_of_one_agent_are_approved_together(page: Page, running_app):
    bot = intern_of(running_app, "bea")
    # The rules rate each proposal as it is made: two safe reads, one high-risk delete.
    decisions = [bot.act(f"read_{n}", {"page": n}) for n in range(2)]
    decisions.append(bot.act("delete_rows", {"table": "orders"}))
    sign_in(page, running_app, "bea", PASSWORD)
    expect(items(page)).to_have_count(3)
    checkboxes = page.get_by_role("checkbox", name=re.compile("to approve together"))
    expect(checkboxes).to_have_count(2)  # the risky one is decided on its own
    checkboxes.nth(0).click()
    checkboxes.nth(1).click()
    page.get_by_role("button", name="Approve selected").click()
    expect(page.get_by_text("Approved 2 proposals of bea-intern.")).to_be_visible()
    for decision in decisions[:2]:
        bot.wait_for_decision(decision, timeout=10, poll=0.2)  # approved: it may run
    expect(items(page)).to_have_count(1)


def test_a_proposal_decided_elsewhere_says_who_and_keeps_the_typed_reason(
    page: Page, running_app: RunningApp
):
    bot = intern_of(running_app, "dana")
    decision = bot.act("wipe_cache", {"all": True})
    sign_in(page, running_app, "dana", PASSWORD)
    expect(items(page)).to_have_count(1)
    items(page).first.get_by_role("button", name="Reject").click()
    page.get_by_role("textbox", name="Reason to reject").fill("too broad, only the old keys")

    token = httpx.post(
        f"{running_app.url}/api/auth/login", json={"username": "dana", "password": PASSWORD}
    ).json()["token"]
    httpx.post(  # the same supervisor, from another tab or the API
        f"{running_app.url}/api/supervision/proposals/{decision.proposal_id}/approve",
        headers={"Authorization": f"Bearer {token}"},
        json={},
    ).raise_for_status()

    notice = page.get_by_test_id("inbox-notice")
    expect(notice).to_contain_text("wipe_cache of dana-intern was approved by")
    expect(notice).to_contain_text("too broad, only the old keys")
    expect(items(page)).to_have_count(0)


def test_the_proposal_page_says_who_decided_first_and_links_the_run(page: Page, running_app):
    bot = intern_of(running_app, "flo")
    decision = bot.act("rotate_logs", {"keep_days": 30})
    sign_in(page, running_app, "flo", PASSWORD)
    items(page).first.get_by_role("link", name="Edit").click()  # "e" opens the same page
    page.wait_for_url(re.compile(rf"/proposals\?proposal={decision.proposal_id}$"))
    page.get_by_role("textbox", name="Rejection reason").fill("keep 90 days")

    token = httpx.post(
        f"{running_app.url}/api/auth/login", json={"username": "flo", "password": PASSWORD}
    ).json()["token"]
    httpx.post(
        f"{running_app.url}/api/supervision/proposals/{decision.proposal_id}/approve",
        headers={"Authorization": f"Bearer {token}"},
        json={"parameters": {"keep_days": 7}},
    ).raise_for_status()

    expect(page.get_by_test_id("decided-elsewhere")).to_contain_text("keep 90 days")
    expect(page.get_by_test_id("decided-line")).to_contain_text("Approved by flo")
    expect(page.get_by_test_id("approved-diff")).to_contain_text('+  "keep_days": 7')
    page.get_by_role("link", name="Open the run").click()
    expect(page.get_by_role("heading", name="rotate_logs")).to_be_visible()
