"""`python -m supervision_app.mcp_gateway --agent-key … -- <upstream MCP server command>`.

The gateway lives in the agent client package (`supervision_client.mcp_gateway`, extra `mcp`),
so it runs on an agent's machine without the dashboard; this name is the same command for
those who have the dashboard checked out."""

from supervision_client.mcp_gateway.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
