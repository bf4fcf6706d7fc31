"""The user guide's screenshots, taken from a running demo (`make demo`), so they show the
product as it is. Usage: `PORT=3000 DATA_DIR=/tmp/demo make demo`, then
`.venv/bin/python scripts/guide_screenshots.py [http://localhost:3000] [/tmp/demo]`.
Writes docs/images/*.png."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from supervision_app.client import SupervisionClient  # noqa: E402

OUT = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "demo-password"


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")
    page.locator("#signed-in-user").wait_for()


def agent_key(data_dir: Path, name: str) -> str:
    keys = json.loads((data_dir / "demo-agent-keys.json").read_text())
    return next(key["api_key"] for key in keys if key["name"] == name)


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Waits for the screen's data (no skeleton left), then writes docs/images/<name>.png."""
    page.locator("[aria-busy=true]").first.wait_for(state="detached", timeout=15_000)
    page.wait_for_timeout(800)  # the last pushed update painted
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)
    print(f"wrote docs/images/{name}.png")


def open_as(browser: Browser, url: str, username: str, width: int = 1280) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(page, url, username)
    if width != 1280:
        page.set_viewport_size({"width": width, "height": 844})
    return page


def main(url: str, data_dir: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        sam = open_as(browser, url, "sam")  # online: the refund proposal below asks Sam first
        refund = SupervisionClient(url, agent_key(data_dir, "refund-intern"))
        asked = refund.act(
            "refund_order",
            {"order": "A-1042", "amount": 420, "currency": "EUR"},
            reason="The parcel arrived damaged; the customer sent photos.",
        )
        sam.goto(url)
        sam.get_by_test_id("inbox-item").first.wait_for()
        shot(sam, "needs-you")
        sam.goto(f"{url}/proposals?proposal={asked.proposal_id}")
        sam.get_by_test_id("chain-line").wait_for()
        sam.locator("[data-testid=chain-hops] summary").click()
        shot(sam, "proposal-chain")
        sam.goto(f"{url}/monitoring")
        shot(sam, "monitoring")
        sam.get_by_test_id("run-row").first.get_by_role("link").first.click()
        sam.get_by_test_id("run-header").wait_for()
        shot(sam, "run")
        sam.goto(f"{url}/presence")
        shot(sam, "presence")

        phone = open_as(browser, url, "sam", width=390)
        phone.goto(url)
        phone.get_by_test_id("inbox-item").first.wait_for()
        shot(phone, "phone-needs-you")

        viewer = open_as(browser, url, "vic")
        viewer.goto(f"{url}/monitoring")
        shot(viewer, "viewer-monitoring")

        admin = open_as(browser, url, "admin")
        for screen in ("agents", "queue", "audit", "reviewers"):
            admin.goto(f"{url}/{screen}")
            shot(admin, screen)
        admin.goto(f"{url}/escalation")
        admin.get_by_test_id("chain").first.wait_for()
        shot(admin, "escalation", full_page=True)
        browser.close()


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "http://localhost:3000",
        Path(sys.argv[2] if len(sys.argv) > 2 else "data"),
    )
