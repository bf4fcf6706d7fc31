"""A start reuses the dashboard's build while what it is built from is unchanged."""

from __future__ import annotations

import inspect
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


def digest_of(tree: Path, settings=SETTINGS, args=ARGS) -> str:  # noqa: ANN001
    return warm_start.build_inputs_digest(tree, settings, args)


def built(tree: Path, digest: str) -> None:
    (tree / warm_start.BUILT_PAGE).parent.mkdir(parents=True)
    (tree / warm_start.BUILT_PAGE).write_text("<html></html>")
    (tree / warm_start.STAMP).write_text(digest + "\n")


def test_the_digest_moves_with_the_sources_the_shown_settings_and_the_arguments(tree):
    before = digest_of(tree)
    assert digest_of(tree) == before
    elsewhere = {**SETTINGS, "data_dir": "/b", "database_url": "postgresql://…"}
    assert digest_of(tree, elsewhere) == before  # no page shows where the data lives
    assert digest_of(tree, {**SETTINGS, "port": 3001}) != before
    assert digest_of(tree, {**SETTINGS, "presence_heartbeat_s": 10}) != before
    assert digest_of(tree, SETTINGS, [*ARGS, "--backend-host", "0.0.0.0"]) != before
    (tree / "supervision_app" / "page.py").write_text("TITLE = 'Inbox'\n")
    assert digest_of(tree) != before


def test_assets_pinned_javascript_and_the_toolchain_are_inputs_too(tree, monkeypatch):
    before = digest_of(tree)
    (tree / "assets").mkdir()
    (tree / "assets" / "favicon.ico").write_bytes(b"\x00icon")
    with_asset = digest_of(tree)
    assert with_asset != before
    (tree / "reflex.lock").mkdir()
    (tree / "reflex.lock" / "package.json").write_text('{"react": "19.0.0"}')
    pinned = digest_of(tree)
    assert pinned != with_asset
    monkeypatch.setenv("VITE_MINIFY", "false")
    assert digest_of(tree) != pinned


def test_editor_droppings_are_not_sources(tree):
    before = digest_of(tree)
    (tree / "supervision_app" / ".#page.py").symlink_to(tree / "nowhere")  # an Emacs lock
    assert digest_of(tree) == before


def test_a_build_is_reused_only_when_it_is_there_and_stamped_with_the_same_inputs(tree):
    digest = digest_of(tree)
    assert not warm_start.build_is_current(tree, digest)
    built(tree, digest)
    assert warm_start.build_is_current(tree, digest)
    assert not warm_start.build_is_current(tree, "0" * 64)
    (tree / warm_start.BUILT_PAGE).unlink()
    assert not warm_start.build_is_current(tree, digest)


def test_reflex_still_compiles_and_builds_through_the_steps_the_warm_start_replaces():
    run_prod = inspect.getsource(reflex_cli._run_prod)
    assert "_compile_app(" in run_prod and "build.setup_frontend_prod(" in run_prod


def test_a_warm_start_skips_the_compile_and_the_build_together(tree):
    digest = digest_of(tree)
    built(tree, digest)
    calls = []
    warm = warm_start.WarmStart(tree, digest, lambda **_: calls.append("compile"), calls.append)
    warm.compile_app(avoid_dirty_check=False)
    warm.build_frontend(tree)
    assert warm.reused is True and calls == []


def test_a_cold_start_builds_and_stamps_only_a_build_that_succeeded(tree):
    digest = digest_of(tree)
    calls = []

    def failing_build(root: Path) -> None:
        calls.append("build")
        raise RuntimeError("vite failed")

    built(tree, "an older digest")  # the build of older sources, stamped as such
    warm = warm_start.WarmStart(tree, digest, lambda **_: calls.append("compile"), failing_build)
    warm.compile_app(avoid_dirty_check=False)
    with pytest.raises(RuntimeError):
        warm.build_frontend(tree)
    assert calls == ["compile", "build"] and not (tree / warm_start.STAMP).exists()

    def good_build(root: Path) -> None:
        (tree / warm_start.BUILT_PAGE).write_text("<html>new</html>")

    warm = warm_start.WarmStart(tree, digest, lambda **_: None, good_build)
    warm.compile_app(avoid_dirty_check=False)
    warm.build_frontend(tree)
    assert warm.reused is False and warm_start.build_is_current(tree, digest)


def test_installing_replaces_reflex_steps(monkeypatch):
    monkeypatch.setattr(reflex_cli, "_compile_app", reflex_cli._compile_app)
    monkeypatch.setattr(build, "setup_frontend_prod", build.setup_frontend_prod)
    warm = warm_start.install(Path("/nowhere"), "0" * 64)
    assert reflex_cli._compile_app == warm.compile_app
    assert build.setup_frontend_prod == warm.build_frontend
