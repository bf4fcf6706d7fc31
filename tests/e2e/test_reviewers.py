"""An admin sees whether the AI reviewer agrees with the humans, and sets what it may approve."""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, RunningApp, make_agent_key, make_supervisor, sign_in


def _token(app: RunningApp, username: str, password: str) -> dict[str, str]:
    login = httpx.post(
        f"{app.url}/api/auth/login", json={"username": username, "password": password}
    ).json()
    return {"Authorization": f"Bearer {login['token']}"}


def _decided_by_reviewer(app: RunningApp, key: str, action: str, admin: dict) -> dict:
    """The agent proposes while its supervisor is away; the reviewer looks at once."""
    decision = httpx.post(
        f"{app.url}/api/v1/actions",
        json={"action": action},
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    url = f"{app.url}/api/supervision/proposals/{decision['proposal_id']}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        proposal = httpx.get(url, headers=admin).json()
        if proposal.get("review"):
            return proposal
        time.sleep(0.2)
    raise AssertionError(f"proposal was not reviewed: {proposal}")


def test_admin_sees_the_reviewers_record_and_edits_its_allow_list(
    page: Page, running_app: RunningApp, admin_account
):
    make_supervisor(running_app, "rhea")
    key = make_agent_key(running_app, "ledger-intern", "INTERN", "rhea", category="ledgers")
    running_app.cli(
        "create-agent",
        "ledger-reviewer",
        "--category",
        "ledgers",
        "--level",
        "AUTONOMOUS",
        "--can-supervise",
    )
    admin = _token(running_app, *admin_account)
    approved = _decided_by_reviewer(running_app, key, "list_ledgers", admin)
    assert approved["status"] == "approved"  # a looking verb, nothing risky: the rules approve
    held = _decided_by_reviewer(running_app, key, "rename_ledger", admin)
    assert held["status"] == "pending"  # not on the allow-list: left for a human
    decided = httpx.post(  # rhea comes back and approves what the reviewer held back
        f"{running_app.url}/api/supervision/proposals/{held['id']}/approve",
        json={},
        headers=_token(running_app, "rhea", PASSWORD),
    )
    assert decided.status_code == 200, decided.text

    sign_in(page, running_app, *admin_account)
    page.get_by_role("navigation", name="Screens").get_by_role("link", name="Reviewers").click()
    scores = page.locator("#reviewer-scores")
    row = scores.get_by_role("row").filter(has_text="ledger-reviewer")
    expect(row).to_contain_text("rules")
    expect(row.get_by_role("cell").nth(4)).to_have_text("0%")  # 1 compared, not agreed
    disagreement = page.locator("#disagreements").get_by_text(
        re.compile(r"Proposal #\d+ rename_ledger")
    )
    expect(disagreement).to_be_visible()
    expect(page.locator("#disagreements")).to_contain_text("rhea approved")

    lists = page.locator("#allow-lists")
    ledgers = lists.get_by_role("row").filter(has_text="ledgers")
    expect(ledgers).to_contain_text("read-only verbs")
    expect(ledgers.get_by_text("default", exact=True)).to_be_visible()
    ledgers.get_by_role("button", name="Edit the allow-list of ledgers").click()
    expect(page.locator("#allow-category")).to_have_value("ledgers")
    page.locator("#allow-patterns").fill("*")
    page.get_by_role("button", name="Save allow-list").click()
    expect(page.locator("#allow-list-error")).to_contain_text("would match almost any action")
    page.locator("#allow-patterns").fill("Ledgers.Summary*\nreports.get_*")
    page.get_by_role("button", name="Save allow-list").click()
    expect(ledgers).to_contain_text("read-only verbs, ledgers.summary*, reports.get_*")
    expect(ledgers.get_by_text("default", exact=True)).to_have_count(0)

    # The change is in the audit, and the reviewer now approves what was added.
    again = _decided_by_reviewer(running_app, key, "ledgers.summaryQuarter", admin)
    assert again["status"] == "approved"
    # The agent does the approved work and finishes: nothing is left running for other tests.
    for proposal_id in (approved["id"], held["id"], again["id"]):
        proposal = httpx.get(
            f"{running_app.url}/api/supervision/proposals/{proposal_id}", headers=admin
        ).json()
        done = httpx.post(
            f"{running_app.url}/api/v1/executions/{proposal['execution_id']}/events",
            json={"events": [{"type": "completed", "result": {"ok": True}}]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert done.status_code == 200, done.text
    page.goto(f"{running_app.url}/audit")
    page.get_by_placeholder("Filter by action").fill("review_allow_list.updated")
    expect(
        page.get_by_test_id("audit-event").filter(has_text="allow-list of category ledgers")
    ).to_contain_text("ledgers.summary*")
