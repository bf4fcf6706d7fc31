"""A start reuses the dashboard's build while what it is built from is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import reflex.reflex as reflex_cli
from reflex.utils import build

from supervision_app import warm_start

SETTINGS = {"port": 3000, "presence_heartbeat_s": 30, "data_dir": "/a", "database_url": "x"}
ARGS = ["--env", "prod", "--single-port"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "supervision_app").mkdir()
    (tmp_path / "supervision_app" / "page.py").write_text("TITLE = 'Needs you'\n")
    (tmp_path / "services").mkdir()
    (tmp_path / "rxconfig.py").write_text("config = 1\n")
    return tmp_path


def built(tree: Path, digest: str) -> None:
    (tree / warm_start.BUILT_PAGE).parent.mkdir(parents=True)
    (tree / warm_start.BUILT_PAGE).write_text("<html></html>")
    (tree / warm_start.STAMP).write_text(digest + "\n")


def test_the_digest_moves_with_the_sources_the_shown_settings_and_the_arguments(tree):
    before = warm_start.build_inputs_digest(tree, SETTINGS, ARGS)
    assert warm_start.build_inputs_digest(tree, SETTINGS, ARGS) == before
    elsewhere = {**SETTINGS, "data_dir": "/b", "database_url": "postgresql://…"}
    assert warm_start.build_inputs_digest(tree, elsewhere, ARGS) == before  # no page shows them
    assert warm_start.build_inputs_digest(tree, {**SETTINGS, "port": 3001}, ARGS) != before
    assert (
        warm_start.build_inputs_digest(tree, {**SETTINGS, "presence_heartbeat_s": 10}, ARGS)
        != before
    )
    assert (
        warm_start.build_inputs_digest(tree, SETTINGS, [*ARGS, "--backend-host", "0.0.0.0"])
        != before
    )
    (tree / "supervision_app" / "page.py").write_text("TITLE = 'Inbox'\n")
    assert warm_start.build_inputs_digest(tree, SETTINGS, ARGS) != before


def test_a_build_is_reused_only_when_it_is_there_and_stamped_with_the_same_inputs(tree):
    digest = warm_start.build_inputs_digest(tree, SETTINGS, ARGS)
    assert not warm_start.build_is_current(tree, digest)
    built(tree, digest)
    assert warm_start.build_is_current(tree, digest)
    assert not warm_start.build_is_current(tree, "0" * 64)
    (tree / warm_start.BUILT_PAGE).unlink()
    assert not warm_start.build_is_current(tree, digest)


@pytest.fixture
def reflex_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """prepare() replaces Reflex's steps: put them back after each test."""
    monkeypatch.setattr(reflex_cli, "_compile_app", reflex_cli._compile_app)
    monkeypatch.setattr(build, "setup_frontend_prod", build.setup_frontend_prod)


def test_a_warm_start_skips_the_compile_and_the_build(tree, reflex_restored):
    digest = warm_start.build_inputs_digest(tree, SETTINGS, ARGS)
    built(tree, digest)
    assert warm_start.prepare(tree, digest) is True
    assert reflex_cli._compile_app(avoid_dirty_check=False) is None
    assert build.setup_frontend_prod(tree) is None


def test_a_cold_start_builds_and_stamps_only_a_build_that_succeeded(
    tree, reflex_restored, monkeypatch
):
    digest = warm_start.build_inputs_digest(tree, SETTINGS, ARGS)
    (tree / ".web").mkdir()
    (tree / warm_start.STAMP).write_text("stale\n")
    calls = []

    def failing_build(root):
        calls.append(root)
        assert not (tree / warm_start.STAMP).exists()  # forgotten before building
        raise RuntimeError("vite failed")

    monkeypatch.setattr(build, "setup_frontend_prod", failing_build)
    assert warm_start.prepare(tree, digest) is False
    with pytest.raises(RuntimeError):
        build.setup_frontend_prod(tree)
    assert calls == [tree] and not (tree / warm_start.STAMP).exists()

    monkeypatch.setattr(build, "setup_frontend_prod", lambda root: calls.append(root))
    warm_start.prepare(tree, digest)
    build.setup_frontend_prod(tree)
    assert (tree / warm_start.STAMP).read_text().strip() == digest
