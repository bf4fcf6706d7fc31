"""An MCP client whose tool calls go through the supervision dashboard via the MCP gateway.

The client (here the official `mcp` SDK; in real life a desktop assistant or an IDE agent)
launches the gateway instead of the MCP server, and the gateway launches the server
(`examples/mcp_refund_server.py`). Against the demo (`make demo`), as its INTERN
`refund-intern` — sign in as `sam` and approve (or edit, or reject) the proposal:

    .venv/bin/python examples/mcp_gateway_agent.py                  # localhost:3000, demo key
    .venv/bin/python examples/mcp_gateway_agent.py http://host:3000 sva_...
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from demo_target import demo_target
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

HERE = Path(__file__).resolve().parent


async def main(url: str, api_key: str) -> int:
    gateway = StdioServerParameters(
        command=sys.executable,
        args=["-m", "supervision_client.mcp_gateway", "--url", url, "--"]
        + [sys.executable, str(HERE / "mcp_refund_server.py")],
        env={**os.environ, "SUPERVISION_AGENT_KEY": api_key},
    )

    async def progress(_done: float, _total: float | None, message: str | None) -> None:
        print("  …", message)

    async with Client(gateway) as mcp:
        tools = await mcp.list_tools()
        print("tools:", ", ".join(tool.name for tool in tools.tools))
        arguments = {"order": "A-1042", "amount": 120, "currency": "EUR"}
        print("calling refund_order with", arguments)
        try:
            result = await mcp.call_tool("refund_order", arguments, progress_callback=progress)
        except MCPError as refused:
            print(f"refused ({refused.code}): {refused.message}")
            return 1
        for block in result.content:
            print("result:", getattr(block, "text", block))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*demo_target())))
