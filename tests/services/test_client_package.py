"""The agent client is a package of its own that needs nothing of the dashboard: an agent
installs `clients/python` and gets httpx, nothing else."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "python"


def test_the_client_imports_only_the_standard_library_httpx_and_itself():
    imported = set()
    for source in (PACKAGE / "src" / "supervision_client").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    outside = imported - set(sys.stdlib_module_names) - {"httpx", "supervision_client"}
    assert outside == set(), outside
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    assert [dep.split(">")[0].split("=")[0] for dep in project["dependencies"]] == ["httpx"]
