"""Shared fixtures: every test gets its own migrated SQLite database and a fixed clock."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.config import get_settings
from services.db import dispose_engines
from services.presence_cache import presence_cache

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _point_settings_at(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{data_dir / 'supervision.db'}")
    monkeypatch.setenv("SECRET_KEY", "test-secret-key")
    get_settings.cache_clear()
    dispose_engines()
    presence_cache.clear()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the migrations once; each test copies the resulting file."""
    from services.migrations import upgrade_database

    data_dir = tmp_path_factory.mktemp("template")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _point_settings_at(monkeypatch, data_dir)
        upgrade_database()
        dispose_engines()
    get_settings.cache_clear()
    return data_dir / "supervision.db"


@pytest.fixture
def database(
    migrated_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(migrated_template, data_dir / "supervision.db")
    _point_settings_at(monkeypatch, data_dir)
    yield data_dir / "supervision.db"
    dispose_engines()
    get_settings.cache_clear()


@pytest.fixture
def now() -> datetime:
    return NOW
