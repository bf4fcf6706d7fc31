"""The agent client is a package of its own that needs nothing of the dashboard: an agent
installs `clients/python` and gets httpx, nothing else; each framework adapter needs only its
own extra, and importing the client never loads a framework."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "python"
SOURCE = PACKAGE / "src" / "supervision_client"
BASE = {"httpx", "anyio", "supervision_client"}  # anyio: what httpx itself runs on
# What each adapter may import beyond the base: its extra's package and what that brings.
ADAPTERS = {
    "openai_agents.py": {"agents", "openai", "pydantic"},
    "langgraph.py": {"langgraph", "langchain_core"},
    "mcp_gateway": {"mcp", "mcp_types", "uvicorn", "anyio"},
}


def third_party_imports(*sources: Path) -> set[str]:
    imported: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    return imported - set(sys.stdlib_module_names)


def test_the_client_imports_only_the_standard_library_httpx_and_itself():
    base = [p for p in SOURCE.glob("*.py") if p.name not in ADAPTERS]
    assert third_party_imports(*base) - BASE == set()
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    assert [dep.split(">")[0].split("=")[0] for dep in project["dependencies"]] == ["httpx"]


def test_each_adapter_needs_only_its_extra():
    extras = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(extras) == {"openai-agents", "langgraph", "mcp"}
    for name, allowed in ADAPTERS.items():
        path = SOURCE / name
        sources = list(path.glob("*.py")) if path.is_dir() else [path]
        assert sources, name
        assert third_party_imports(*sources) - BASE - allowed == set(), name


def test_importing_the_client_loads_no_framework():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, supervision_client; print(*sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    frameworks = {"agents", "langgraph", "langchain_core", "mcp", "pydantic", "supervision_app"}
    assert {name.split(".")[0] for name in loaded} & frameworks == set()


@pytest.mark.parametrize(
    ("adapter", "framework", "extra"),
    [
        ("openai_agents", "agents", "openai-agents"),
        ("langgraph", "langgraph", "langgraph"),
        ("mcp_gateway", "mcp", "mcp"),
    ],
)
def test_an_adapter_without_its_framework_says_which_extra_to_install(adapter, framework, extra):
    hidden = f"import sys; sys.modules[{framework!r}] = None; import supervision_client.{adapter}"
    result = subprocess.run([sys.executable, "-c", hidden], capture_output=True, text=True)
    assert result.returncode == 1
    assert f'pip install "supervision-client[{extra}]"' in result.stderr
