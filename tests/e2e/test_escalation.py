"""Escalation as people set it up and meet it: an admin puts someone on call and sets a
category's chain on the Escalation screen; a proposal whose supervisor is away goes straight to
the on-call person, who sees where it stands and decides it; a supervisor names a delegate on
Team presence and ends it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from supervision_app.client import SupervisionClient
from tests.e2e.conftest import PASSWORD, RunningApp, make_agent_key, make_supervisor, sign_in

pytestmark = pytest.mark.usefixtures("admin_account")


def test_an_on_call_supervisor_gets_the_proposal_its_away_supervisor_cannot_take(
    page: Page, browser: Browser, running_app: RunningApp, admin_account
):
    make_supervisor(running_app, "oscar")  # never signed in: away
    make_supervisor(running_app, "olive")
    bot = SupervisionClient(
        running_app.url, make_agent_key(running_app, "night-intern", "INTERN", "oscar", "night")
    )

    sign_in(page, running_app, *admin_account)
    page.goto(f"{running_app.url}/escalation")
    page.get_by_role("combobox", name="Category").click()
    page.get_by_role("option", name="night", exact=True).click()
    page.get_by_role("combobox", name="Who").click()
    page.get_by_role("option", name="olive (olive)", exact=True).click()
    for day in ("Sat", "Sun"):  # with Monday to Friday, ticked already: every day
        page.get_by_label(day, exact=True).click()
        expect(page.get_by_label(day, exact=True)).to_be_checked()
    page.get_by_label("From").fill("00:00")
    page.get_by_label("To", exact=True).fill("00:00")  # all day
    page.get_by_role("button", name="Add hours").click()
    expect(page.get_by_test_id("shift").filter(has_text="olive")).to_contain_text("00:00–24:00")

    page.get_by_role("combobox", name="For").click()
    page.get_by_role("option", name="category:night").click()
    for step in (
        "Their delegate, while they are away",
        "The AI reviewer (only what its allow-list lets it approve)",
    ):
        page.get_by_label(step).click()
        expect(page.get_by_label(step)).not_to_be_checked()
    page.get_by_label("Safe risk (min)").fill("0")
    page.get_by_role("button", name="Save chain").click()
    expect(page.locator("#chain-error")).to_contain_text("A step lasts 1 to")
    page.get_by_label("Safe risk (min)").fill("30")
    page.get_by_role("button", name="Save chain").click()
    expect(page.get_by_test_id("chain").filter(has_text="Category night")).to_contain_text(
        "the agent's supervisor → the category's on-call people → reject"
    )

    olive = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(olive, running_app, "olive", PASSWORD)  # online: her tab is active
    expect(olive.locator("#my-presence")).to_contain_text("online")  # counted as online first
    olive.set_viewport_size({"width": 390, "height": 844})  # she decides on her phone
    proposal = bot.act("tag_tickets", {"tag": "night"}, reason="sort the night queue")
    assert proposal.decision == "proposed"

    olive.goto(f"{running_app.url}/proposals")
    olive.get_by_test_id("proposal-card").filter(has_text="tag_tickets").click()
    expect(olive.get_by_test_id("chain-line")).to_have_text(
        re.compile(r"^With olive until \d\d:\d\d UTC; if nobody decides: rejected\.$")
    )
    olive.locator("[data-testid=chain-hops] summary").click()
    expect(olive.get_by_test_id("chain-hops")).to_contain_text(
        "skipped the agent's supervisor: oscar: not available"
    )
    olive.get_by_role("button", name="Approve", exact=True).click()
    expect(olive.get_by_test_id("decided-line")).to_contain_text("Approved by olive")
    olive.context.close()


def test_a_supervisor_names_a_delegate_while_away_and_ends_it(page: Page, running_app: RunningApp):
    make_supervisor(running_app, "della")
    make_supervisor(running_app, "dexter")
    sign_in(page, running_app, "della", PASSWORD)
    page.goto(f"{running_app.url}/presence")
    card = page.get_by_test_id("delegate-card")
    card.get_by_role("button", name="Name delegate").click()
    expect(page.locator("#delegate-error")).to_have_text("Choose who stands in for you.")
    card.get_by_role("combobox", name="Delegate").click()
    page.get_by_role("option", name="dexter (dexter)", exact=True).click()
    card.get_by_role("button", name="Name delegate").click()
    row = page.get_by_test_id("my-delegation")
    expect(row).to_contain_text("dexter stands in for you")
    row.get_by_role("button", name="End now").click()
    expect(row).to_have_count(0)


def test_an_admin_adds_and_removes_a_channel_and_a_supervisor_gives_an_address(
    page: Page, browser: Browser, running_app: RunningApp, admin_account
):
    sign_in(page, running_app, *admin_account)
    page.goto(f"{running_app.url}/escalation")
    page.get_by_label("Name", exact=True).fill("#approvals")
    page.get_by_label("Incoming-webhook URL").fill("http://10.1.2.3/hooks/abc")
    page.get_by_role("button", name="Add channel").click()
    expect(page.locator("#channel-error")).to_contain_text("10.1.2.3")  # private: refused

    page.get_by_role("radio", name="email").click()
    page.get_by_label("Name", exact=True).fill("team mail")
    page.get_by_label("Sender address").fill("supervision@example.com")
    page.get_by_label("SMTP host").fill("smtp.example.com")
    page.get_by_role("button", name="Add channel").click()
    channel = page.get_by_test_id("channel").filter(has_text="team mail")
    expect(channel).to_contain_text("nothing sent yet")
    channel.get_by_role("button", name="Remove the channel team mail").click()
    expect(channel).to_have_count(0)

    make_supervisor(running_app, "emma")
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(page, running_app, "emma", PASSWORD)
    page.goto(f"{running_app.url}/presence")
    card = page.get_by_test_id("notice-email-card")
    card.get_by_label("Your e-mail address").fill("not an address")
    card.get_by_role("button", name="Save").click()
    expect(page.locator("#notice-email-error")).to_have_text(
        "Give an e-mail address like name@example.com."
    )
    card.get_by_label("Your e-mail address").fill("emma@example.com")
    card.get_by_role("button", name="Save").click()
    page.reload()
    expect(card.get_by_label("Your e-mail address")).to_have_value("emma@example.com")
