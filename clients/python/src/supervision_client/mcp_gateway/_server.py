"""The gateway as an MCP server: `tools/list` is the upstream's, unchanged; every `tools/call`
goes through `Governance`. Served over stdio (a desktop assistant or IDE launches it) or over
streamable HTTP (clients connect to a URL)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from supervision_client._async import AsyncSupervisionClient
from supervision_client.mcp_gateway._governance import DECISION_TIMEOUT_S, Governance

logger = logging.getLogger("supervision_client.mcp_gateway")


@dataclass(frozen=True)
class Upstream:
    """The real MCP server: a command to launch (stdio) or a streamable HTTP URL."""

    command: list[str] | None = None
    url: str | None = None
    env: dict[str, str] | None = None

    def target(self) -> StdioServerParameters | str:
        if self.url:
            return self.url
        if not self.command:
            raise ValueError("name the upstream MCP server: a command after --, or --upstream-url")
        return StdioServerParameters(command=self.command[0], args=self.command[1:], env=self.env)


def build_server(upstream: Client, governance: Governance, name: str = "supervised") -> Server:
    """An MCP server that lists the upstream's tools and governs every call to them."""

    async def list_tools(
        _ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        cursor = params.cursor if params else None
        return await upstream.list_tools(cursor=cursor, cache_mode="bypass")

    async def call_tool(
        ctx: ServerRequestContext, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        return await governance.call(
            params.name, dict(params.arguments or {}), ctx.session.report_progress
        )

    return Server(name, on_list_tools=list_tools, on_call_tool=call_tool)


@contextlib.asynccontextmanager
async def connected(
    dashboard_url: str,
    agent_key: str,
    upstream: Upstream,
    *,
    poll: float = 2.0,
    decision_timeout: float = DECISION_TIMEOUT_S,
) -> AsyncIterator[Server]:
    """The gateway's server, connected to the dashboard and to the upstream MCP server."""
    async with AsyncSupervisionClient(dashboard_url, agent_key) as supervision:
        agent = (await supervision.me())["agent"]  # a wrong key or URL stops us here, clearly
        async with contextlib.AsyncExitStack() as stack:
            try:
                client = Client(upstream.target(), cache=None)
                upstream_client = await stack.enter_async_context(client)
            except Exception as failure:
                raise UpstreamDidNotStart(upstream, failure) from failure
            governance = Governance(
                supervision=supervision,
                upstream=upstream_client,
                poll=poll,
                decision_timeout=decision_timeout,
            )
            yield _governed(governance, upstream_client, agent)


class UpstreamDidNotStart(Exception):
    """The upstream MCP server could not be started or did not answer the handshake."""

    def __init__(self, upstream: Upstream, failure: BaseException) -> None:
        while getattr(failure, "exceptions", None):  # an exception group's wrapping says nothing
            failure = failure.exceptions[0]  # type: ignore[attr-defined]
        what = upstream.url or " ".join(upstream.command or [])
        super().__init__(f"the upstream MCP server ({what}) did not start: {failure}")


def _governed(governance: Governance, upstream_client: Client, agent: dict[str, Any]) -> Server:
    logger.info(
        "supervising %s's tools as agent %s (%s)",
        upstream_client.server_info.name if upstream_client.server_info else "upstream",
        agent["name"],
        agent["maturity_level"],
    )
    return build_server(upstream_client, governance, name=f"supervised-{agent['name']}")


async def serve_stdio(server: Server) -> None:
    """Speak MCP on this process's stdin and stdout (stdout carries nothing else)."""
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


async def serve_http(server: Server, host: str, port: int, **uvicorn_options: Any) -> None:
    """Speak streamable HTTP at http://HOST:PORT/mcp."""
    import uvicorn

    app = server.streamable_http_app(host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", **uvicorn_options)
    await uvicorn.Server(config).serve()
