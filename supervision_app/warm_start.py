"""Start the app as `reflex run --env prod` does, but build the dashboard only when what it is
built from has changed.

Every production start used to compile the pages and run the frontend's production build
(about 8 s on a 2-core machine) even when nothing had changed. Here a digest of the build's
inputs (the Python sources, `rxconfig.py`, `requirements.txt`, the settings that can reach a
page, the versions of Reflex and Python, and the `reflex run` arguments) is kept beside the
build; when it matches and the build is there, the start skips straight to the server.

    python -m supervision_app.warm_start --env prod --single-port --frontend-port 3000 …

takes the arguments of `reflex run`. The stamp is removed before a build and written only
after it succeeded, so an interrupted build is redone at the next start.
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
SOURCE_DIRS = ("supervision_app", "services", "models")
SOURCE_FILES = ("rxconfig.py", "requirements.txt")
STAMP = Path(".web") / "supervision-build-inputs.sha256"
BUILT_PAGE = Path(".web") / "build" / "client" / "index.html"
# Settings no page can show: where the data lives. Every other setting may be compiled into
# a page (the heartbeat interval is), so any change to one rebuilds.
SERVER_ONLY_SETTINGS = frozenset({"data_dir", "database_url"})
BUILD_ENVIRONMENT = ("REFLEX_", "VITE_", "NODE_")  # the toolchain's own switches


def _sources(root: Path) -> Iterable[Path]:
    for name in SOURCE_FILES:
        path = root / name
        if path.is_file():
            yield path
    for folder in SOURCE_DIRS:
        yield from sorted(p for p in (root / folder).rglob("*.py") if "__pycache__" not in p.parts)


def build_inputs_digest(root: Path, settings: dict[str, Any], arguments: list[str]) -> str:
    """A digest of everything the dashboard's build is made from."""
    digest = hashlib.sha256()
    digest.update(f"reflex {metadata.version('reflex')} python {sys.version}\n".encode())
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


def stamped(build: Callable[..., Any], stamp: Path, digest: str) -> Callable[..., Any]:
    """`build`, recording `digest` once it has succeeded (and forgetting it before it starts)."""

    def build_and_stamp(*args: Any, **kwargs: Any) -> Any:
        stamp.unlink(missing_ok=True)
        result = build(*args, **kwargs)
        stamp.write_text(digest + "\n")
        return result

    return build_and_stamp


def prepare(root: Path, digest: str) -> bool:
    """Make `reflex run` skip the compile and the build when they would change nothing, or
    stamp the build it makes; True when the start is warm."""
    import reflex.reflex as reflex_cli
    from reflex.utils import build

    if build_is_current(root, digest):
        reflex_cli._compile_app = lambda **_kwargs: None
        build.setup_frontend_prod = lambda *_args, **_kwargs: None
        return True
    build.setup_frontend_prod = stamped(build.setup_frontend_prod, root / STAMP, digest)
    return False


def main(arguments: list[str]) -> None:
    from services.config import get_settings

    digest = build_inputs_digest(ROOT, get_settings().model_dump(), arguments)
    warm = prepare(ROOT, digest)
    print("  Dashboard build: " + ("unchanged, reused" if warm else "building"), flush=True)
    import reflex.reflex as reflex_cli

    reflex_cli.cli(["run", *arguments], prog_name="reflex")


if __name__ == "__main__":
    main(sys.argv[1:])
