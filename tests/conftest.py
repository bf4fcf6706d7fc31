"""Shared fixtures: every test gets its own migrated database and a fixed clock.

SQLite by default; `TEST_DATABASE_URL` runs the same suite on PostgreSQL (tests/databases.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services import sign_in
from services.agent_key_cache import agent_keys
from services.config import get_settings
from services.db import dispose_engines
from services.login_cache import login_cache
from tests.databases import TestDatabases, on_postgres

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _point_settings_at(monkeypatch: pytest.MonkeyPatch, data_dir: Path, url: str) -> None:
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    dispose_engines()
    login_cache.clear()
    agent_keys.clear()
    sign_in.clear()


def pytest_report_header() -> str:
    return f"database: {'PostgreSQL' if on_postgres() else 'SQLite'}"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabases]:
    """Run the migrations once; each test gets a copy of the result."""
    from services.migrations import upgrade_database

    databases = TestDatabases(tmp_path_factory.mktemp("template"))
    with pytest.MonkeyPatch.context() as monkeypatch:
        _point_settings_at(monkeypatch, databases.root, databases.template_url())
        upgrade_database()
        dispose_engines()
    get_settings.cache_clear()
    yield databases
    databases.drop_template()


@pytest.fixture
def database(
    migrated_template: TestDatabases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """This test's database URL (settings already point at it)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = migrated_template.fresh_url(data_dir)
    _point_settings_at(monkeypatch, data_dir, url)
    yield url
    dispose_engines()
    get_settings.cache_clear()
    migrated_template.drop(url)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def callback_receivers_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Test receivers listen on 127.0.0.1, which callbacks may reach only when an admin allows
    it (CALLBACK_ALLOWED_HOSTS)."""
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
