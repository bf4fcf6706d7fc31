"""Start the app as `reflex run --env prod` does, but build the dashboard only when what it is
built from has changed.

Every production start used to compile the pages and run the frontend's production build
(about 8 s on a 2-core machine) even when nothing had changed. Here a digest of the build's
inputs (the sources and files of `supervision_app/`, `services/`, `models/`, `assets/` and
`reflex.lock/`, `rxconfig.py`, `requirements.txt`, the settings that can reach a page, the
toolchain's environment, the versions of Python and of every installed package, and the
`reflex run` arguments) is kept inside the build; when it matches, the start skips straight to
the server.

    python -m supervision_app.warm_start --env prod --single-port --frontend-port 3000 …

takes the arguments of `reflex run`. The decision is made where Reflex compiles: after it has
re-initialised `.web/` if it had to, and while it holds the lock on `.web/`. The stamp lives in
`.web/build/`, which every Reflex build deletes first, so a build made by anything else (or
interrupted) never carries a stamp that vouches for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("supervision_app", "services", "models", "assets", "reflex.lock")
SOURCE_FILES = ("rxconfig.py", "requirements.txt")
STAMP = Path(".web") / "build" / "supervision-build-inputs.sha256"
BUILT_PAGE = Path(".web") / "build" / "client" / "index.html"
# Settings no page can show: where the data lives. Every other setting may be compiled into
# a page (the heartbeat interval is), so any change to one rebuilds.
SERVER_ONLY_SETTINGS = frozenset({"data_dir", "database_url"})
BUILD_ENVIRONMENT = ("REFLEX_", "VITE_", "NODE_")  # the toolchain's own switches


def _sources(root: Path) -> Iterable[Path]:
    """Every regular file the build may read (editor droppings such as dangling symlinks and
    compiled bytecode are not sources)."""
    for name in SOURCE_FILES:
        path = root / name
        if path.is_file():
            yield path
    for folder in SOURCE_DIRS:
        yield from sorted(
            path
            for path in (root / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        )


def _installed_packages() -> list[str]:
    """Every installed distribution and its version: Reflex's components come in packages of
    their own, pinned only by ranges."""
    return sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())


def build_inputs_digest(root: Path, settings: dict[str, Any], arguments: list[str]) -> str:
    """A digest of everything the dashboard's build is made from."""
    digest = hashlib.sha256()
    digest.update(f"python {sys.version}\n".encode())
    digest.update(json.dumps(_installed_packages()).encode())
    digest.update(json.dumps(arguments).encode())
    shown = {k: v for k, v in settings.items() if k not in SERVER_ONLY_SETTINGS}
    digest.update(json.dumps(shown, sort_keys=True, default=str).encode())
    toolchain = {k: v for k, v in os.environ.items() if k.startswith(BUILD_ENVIRONMENT)}
    digest.update(json.dumps(toolchain, sort_keys=True).encode())
    for path in _sources(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_is_current(root: Path, digest: str) -> bool:
    stamp = root / STAMP
    return (root / BUILT_PAGE).is_file() and stamp.is_file() and stamp.read_text().strip() == digest


class WarmStart:
    """Reflex's compile and build steps, skipped together when the build is current."""

    def __init__(
        self,
        root: Path,
        digest: str,
        compile_app: Callable[..., Any],
        build_frontend: Callable[..., Any],
    ) -> None:
        self.root, self.digest = root, digest
        self._compile_app, self._build_frontend = compile_app, build_frontend
        self.reused: bool | None = None  # decided when Reflex is about to compile

    def compile_app(self, *args: Any, **kwargs: Any) -> Any:
        self.reused = build_is_current(self.root, self.digest)
        print(
            "  Dashboard build: " + ("unchanged, reused" if self.reused else "building"), flush=True
        )
        if self.reused:
            return None
        return self._compile_app(*args, **kwargs)

    def build_frontend(self, *args: Any, **kwargs: Any) -> Any:
        if self.reused:
            return None
        (self.root / STAMP).unlink(missing_ok=True)  # Reflex's build deletes it too, first thing
        result = self._build_frontend(*args, **kwargs)
        (self.root / STAMP).write_text(self.digest + "\n")  # only once the build succeeded
        return result


def install(root: Path, digest: str) -> WarmStart:
    """Put the warm start in place of Reflex's compile and build steps (`reflex run --env
    prod` calls them by these names: tests/ui/test_warm_start.py checks that it still does)."""
    import reflex.reflex as reflex_cli
    from reflex.utils import build

    warm = WarmStart(root, digest, reflex_cli._compile_app, build.setup_frontend_prod)
    reflex_cli._compile_app = warm.compile_app
    build.setup_frontend_prod = warm.build_frontend
    return warm


def main(arguments: list[str]) -> None:
    from services.config import get_settings

    install(ROOT, build_inputs_digest(ROOT, get_settings().model_dump(), arguments))
    import reflex.reflex as reflex_cli

    reflex_cli.cli(["run", *arguments], prog_name="reflex")


if __name__ == "__main__":
    main(sys.argv[1:])
