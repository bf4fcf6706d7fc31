"""A small MCP server for the gateway's tests: it writes each call it receives to the JSON-lines
file named by $UPSTREAM_LOG, so a test can tell what reached the real tool (and what never did).

Run as a stdio server: `python tests/api/mcp_upstream.py`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

LOG = Path(os.environ.get("UPSTREAM_LOG", "upstream-calls.jsonl"))
tools = MCPServer("test-upstream")


def record(tool: str, **arguments: object) -> None:
    with LOG.open("a") as log:
        log.write(json.dumps({"tool": tool, "at": time.time(), **arguments}) + "\n")


@tools.tool()
def refund(order: str, amount: int) -> str:
    """Refund an order (pretend)."""
    record("refund", order=order, amount=amount)
    return f"refunded {amount} on {order}"


@tools.tool()
def explode(order: str) -> str:
    """A tool that fails."""
    record("explode", order=order)
    raise ToolError(f"no such order {order}")


@tools.tool(name="n" * 125)  # MCP allows 128 characters; the dashboard's actions 120
def long_name() -> str:
    """A tool whose name the dashboard refuses."""
    record("long_name")
    return "ran"


@tools.tool()
async def hold(label: str) -> str:
    """Runs until the test creates $UPSTREAM_LOG.release (or the call is cancelled)."""
    record("hold", label=label, phase="started")
    release = LOG.with_suffix(".release")
    try:
        while not release.exists():
            await anyio.sleep(0.02)
    except anyio.get_cancelled_exc_class():
        record("hold", label=label, phase="cancelled")
        raise
    record("hold", label=label, phase="finished")
    return f"held {label}"


if __name__ == "__main__":
    tools.run()
