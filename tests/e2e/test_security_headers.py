"""The pages work under their Content-Security-Policy, and nothing is loaded from elsewhere
(#16, item 8): every screen renders and goes live with no policy violation, and the API docs
come from the app itself."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.databases import on_postgres
from tests.e2e.conftest import RunningApp, sign_in

# Headers and cookies do not depend on the database; PostgreSQL runs the flows.
pytestmark = pytest.mark.skipif(on_postgres(), reason="headers are checked once, on SQLite")

SCREENS = ["/", "/proposals", "/queue", "/agents", "/presence", "/audit", "/users", "/reviewers"]


def test_every_screen_works_under_the_policy_and_loads_nothing_from_elsewhere(
    page: Page, running_app: RunningApp, admin_account
):
    messages: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("request", lambda request: requests.append(request.url))
    sign_in(page, running_app, *admin_account)
    for path in SCREENS:
        page.goto(f"{running_app.url}{path}")
        expect(page.locator("#signed-in-user")).to_be_attached()
        expect(page.locator("#live-indicator")).to_contain_text("live")  # the websocket is up
    page.goto(f"{running_app.url}/api/docs")
    expect(page.get_by_text("Agent supervision API").first).to_be_visible()
    expect(page.get_by_text("/api/v1/actions").first).to_be_visible()
    violations = [m for m in messages if "Content Security Policy" in m]
    assert violations == []
    elsewhere = [url for url in requests if not url.startswith((running_app.url, "ws://127.0.0.1"))]
    assert elsewhere == [] or all(url.startswith(("data:", "blob:")) for url in elsewhere)


def test_every_answer_carries_the_security_headers(running_app: RunningApp):
    for path in ("/", "/login", "/api/health", "/api/docs"):
        headers = httpx.get(f"{running_app.url}{path}").headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_the_sign_in_token_is_out_of_the_pages_reach(
    page: Page, running_app: RunningApp, admin_account
):
    """Signed in, the token is an HttpOnly cookie: not in the page's storage, not in
    document.cookie. Signing out ends the sign-in and removes the cookie."""
    sign_in(page, running_app, *admin_account)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "supervision_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # The page sees only the viewer's time zone (sv_tz), never the sign-in.
    assert "supervision_session" not in page.evaluate("document.cookie")
    stored = page.evaluate(
        "JSON.stringify([Object.values(localStorage), Object.values(sessionStorage)])"
    )
    assert "svu_" not in stored
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: "/login" in url)
    assert [c for c in page.context.cookies() if c["name"] == "supervision_session"] == []
    page.goto(f"{running_app.url}/agents")
    page.wait_for_url(lambda url: "/login" in url)
