"""One real app for the whole browser-test session, driven by Debian's chromium.

The app is started the way `make run` starts it (`reflex run --env prod --single-port`) on a free
port with its own data directory, so these tests see exactly what a user sees.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.databases import TestDatabases

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT_S = 420
ADMIN = ("root-admin", "first admin password")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@dataclass(frozen=True)
class RunningApp:
    url: str
    data_dir: Path
    env: dict[str, str]

    def cli(self, *args: str) -> str:
        """Run the operator CLI against this app's database."""
        done = subprocess.run(
            [sys.executable, "-m", "supervision_app.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    data_dir = tmp_path_factory.mktemp("e2e-data")
    databases = TestDatabases(data_dir)
    database_url = databases.empty_url(data_dir)
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "SITE_URL": f"http://127.0.0.1:{port}",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "LIVE_SAFETY_NET_S": "2",  # changes no push announces (the CLI's) show within seconds
        "REFLEX_CHECK_LATEST_VERSION": "false",
        "REFLEX_HTTP_CLIENT_BIND_ADDRESS": "0.0.0.0",
        "NPM_CONFIG_REGISTRY": "https://registry.npmjs.org",
        "REFLEX_BUN_PATH": str(ROOT / ".tools" / "bin" / "bun"),
    }
    log_path = data_dir / "app.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "supervision_app.cli", "serve", "--host", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"app exited early:\n{log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    if httpx.get(f"{url}/login", timeout=5, follow_redirects=True).is_success:
                        break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"app did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(1)
        yield RunningApp(url=url, data_dir=data_dir, env=env)
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
        log.close()
        databases.drop(database_url)


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    # Module scope, not session: a live sync Playwright blocks asyncio in later tests.
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def admin_account(running_app: RunningApp) -> tuple[str, str]:
    """The first admin, created through the first-run screen by whichever test needs it first."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{running_app.url}/login")
        page.get_by_text("Create the first admin").wait_for()
        page.get_by_label("Username").fill(ADMIN[0])
        page.get_by_label("Password (at least 8 characters)").fill(ADMIN[1])
        page.get_by_label("Password again").fill(ADMIN[1])
        page.get_by_role("button", name="Create admin and sign in").click()
        page.wait_for_url(f"{running_app.url}/")
        page.locator("#signed-in-user").get_by_text(ADMIN[0]).wait_for()
        browser.close()
    return ADMIN


def sign_in(page: Page, app: RunningApp, username: str, password: str) -> None:
    page.goto(f"{app.url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{app.url}/")
    page.locator("#signed-in-user").wait_for()


PASSWORD = "e2e password 123"


def make_supervisor(app: RunningApp, username: str) -> None:
    app.cli("create-user", username, "--role", "supervisor", "--password", PASSWORD)


def make_agent_key(
    app: RunningApp, name: str, level: str, supervisor: str | None = None, category: str = "ops"
) -> str:
    args = ["create-agent", name, "--category", category, "--level", level]
    if supervisor:
        args += ["--supervisor", supervisor]
    output = app.cli(*args)
    return next(line for line in output.splitlines() if line.startswith("sva_"))
