"""Every screen, for every role, in both themes, passes axe-core (from npm) with no serious or
critical violation: named controls, labelled fields, readable contrast, no landmark mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from supervision_app.client import SupervisionClient
from tests.databases import on_postgres
from tests.e2e.conftest import PASSWORD, RunningApp, make_agent_key, make_supervisor, sign_in

AXE = Path(__file__).resolve().parents[2] / ".tools/axe/node_modules/axe-core/axe.min.js"
EVERYONE = ["/", "/monitoring", "/proposals", "/queue", "/agents", "/presence", "/audit"]
ADMINS_ONLY = ["/users", "/reviewers", "/escalation"]
SERIOUS = ("serious", "critical")
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations
    .filter((v) => ['serious', 'critical'].includes(v.impact))
    .map((v) => ({ rule: v.id, help: v.help,
                   where: v.nodes.slice(0, 4).map((n) => n.html.slice(0, 160) + ' | '
                                                  + (n.failureSummary || '').split('\\n')[1]) }));
}"""

pytestmark = [
    pytest.mark.usefixtures("admin_account"),
    # What the pages render does not depend on the database; PostgreSQL runs the flows.
    pytest.mark.skipif(on_postgres(), reason="rendering is checked once, on SQLite"),
]


def violations(page: Page) -> list[dict]:
    """axe's serious and critical findings on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE)


def settled(page: Page) -> None:
    """The screen has its data: signed in, nothing still loading."""
    page.locator("#signed-in-user").wait_for()
    expect(page.locator("[aria-busy='true']")).to_have_count(0)


@pytest.fixture(scope="module")
def world(running_app: RunningApp) -> dict[str, str]:
    """A supervisor with an agent that has a run and a pending proposal, and a viewer."""
    make_supervisor(running_app, "alba")
    running_app.cli("create-user", "vik", "--role", "viewer", "--password", PASSWORD)
    worker = SupervisionClient(
        running_app.url, make_agent_key(running_app, "alba-auto", "AUTONOMOUS", "alba")
    )
    decision = worker.act("rotate_logs", {"keep": 7})
    run = worker.run(decision.execution_id)
    run.log("rotated 3 files")
    run.log("kept 7 archives", level="debug", data={"kept": 7, "oldest": "2026-11-25"})
    run.log("one file was locked", level="warning")
    for index in range(30):  # enough lines that the log scrolls
        run.log(f"checked archive {index}", data={"path": f"/var/log/archive-{index}.gz"})
    run.output(
        "table",
        {
            "columns": [f"column {n}" for n in range(12)],
            "rows": [[f"value {n} " * 3 for n in range(12)]],
        },
    )
    run.progress("rotate", 1, 2)
    proposer = SupervisionClient(
        running_app.url, make_agent_key(running_app, "alba-intern", "INTERN", "alba")
    )
    proposer.act("refund_order", {"order": "A-1", "amount": 20})
    agent_id = worker.execution(decision.execution_id)["agent_id"]
    return {"run": f"/runs/{decision.execution_id}", "agent": f"/history/{agent_id}"}


def _check_role(
    browser: Browser, app: RunningApp, who: tuple[str, str], paths: list[str], theme: str
) -> dict[str, list[dict]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=theme)
    page = context.new_page()
    page.set_default_timeout(15_000)
    found: dict[str, list[dict]] = {}
    try:
        sign_in(page, app, *who)
        for path in paths:
            page.goto(f"{app.url}{path}")
            settled(page)
            if problems := violations(page):
                found[path] = problems
    finally:
        context.close()
    return found


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_screen_passes_axe_for_every_role(
    browser: Browser, running_app: RunningApp, admin_account, world, theme: str
):
    """Admins see every screen; a supervisor and a viewer the shared ones and a run."""
    details = [world["run"], world["agent"]]
    found = {
        "admin": _check_role(
            browser, running_app, admin_account, EVERYONE + ADMINS_ONLY + details, theme
        ),
        "supervisor": _check_role(
            browser, running_app, ("alba", PASSWORD), EVERYONE + details, theme
        ),
        "viewer": _check_role(browser, running_app, ("vik", PASSWORD), EVERYONE + details, theme),
    }
    found = {role: pages for role, pages in found.items() if pages}
    assert not found, json.dumps(found, indent=1)


def test_the_sign_in_page_passes_axe(browser: Browser, running_app: RunningApp):
    for theme in ("light", "dark"):
        context = browser.new_context(color_scheme=theme)
        page = context.new_page()
        try:
            page.goto(f"{running_app.url}/login")
            page.get_by_role("button", name="Sign in").wait_for()
            assert violations(page) == [], theme
        finally:
            context.close()


def test_a_proposal_opens_from_the_keyboard(page: Page, running_app: RunningApp, world):
    """Tab reaches a proposal card and Enter opens it, as a mouse click would."""
    sign_in(page, running_app, "alba", PASSWORD)
    page.goto(f"{running_app.url}/proposals")
    card = page.get_by_test_id("proposal-card").filter(has_text="refund_order")
    card.focus()
    assert page.evaluate("() => document.activeElement.dataset.testid") == "proposal-card"
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()
    expect(card).to_have_attribute("aria-current", "true")


def test_open_dialogs_and_details_pass_axe(browser: Browser, running_app: RunningApp, world):
    """What the page-by-page check does not open: the reject form, a proposal's detail, and a
    run with a long log and a wide output table on a phone."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, running_app, "alba", PASSWORD)
        page.get_by_test_id("inbox-item").filter(has_text="refund_order").get_by_role(
            "button", name="Reject"
        ).click()
        assert violations(page) == [], "reject form"
        page.goto(f"{running_app.url}/proposals")
        page.get_by_test_id("proposal-card").filter(has_text="refund_order").click()
        expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()
        assert violations(page) == [], "proposal detail"
        page.set_viewport_size({"width": 360, "height": 780})
        page.goto(f"{running_app.url}{world['run']}")
        expect(page.get_by_text("checked archive 29")).to_be_visible()  # the phone hides the name
        assert violations(page) == [], "a run with a long log and a wide output, on a phone"
    finally:
        context.close()
