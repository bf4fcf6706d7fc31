"""The gateway's command line: where the dashboard is, which agent the calls act as, how MCP
clients reach the gateway (stdio or HTTP), and which upstream MCP server it governs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys

import httpx

from supervision_client._protocol import SupervisionError
from supervision_client.mcp_gateway._governance import DECISION_TIMEOUT_S
from supervision_client.mcp_gateway._server import (
    Upstream,
    UpstreamDidNotStart,
    connected,
    serve_http,
    serve_stdio,
)

KEY_VARIABLE = "SUPERVISION_AGENT_KEY"
URL_VARIABLE = "SUPERVISION_URL"


def _positive_seconds(text: str) -> float:
    """A number of seconds above zero (argparse names the option when it is not)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (seconds > 0 and math.isfinite(seconds)):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0")
    return seconds


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m supervision_client.mcp_gateway",
        description="Govern every tool call of an MCP server through the supervision dashboard.",
        epilog="Example: SUPERVISION_AGENT_KEY=sva_... python -m supervision_client.mcp_gateway "
        "-- npx -y @modelcontextprotocol/server-filesystem /tmp",
    )
    cli.add_argument(
        "--url",
        default=os.environ.get(URL_VARIABLE, "http://localhost:3000"),
        help=f"the dashboard (default: ${URL_VARIABLE} or http://localhost:3000)",
    )
    cli.add_argument(
        "--agent-key",
        default=os.environ.get(KEY_VARIABLE),
        help=f"the agent's API key (better: ${KEY_VARIABLE}, which other users cannot list)",
    )
    cli.add_argument("--http", action="store_true", help="serve streamable HTTP, not stdio")
    cli.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    cli.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")
    cli.add_argument("--upstream-url", help="the upstream MCP server's streamable HTTP URL")
    cli.add_argument(
        "--poll", type=_positive_seconds, default=2.0, help="seconds between decision checks"
    )
    cli.add_argument(
        "--decision-timeout",
        type=_positive_seconds,
        default=DECISION_TIMEOUT_S,
        help="seconds a call waits for a supervisor's decision (default one day); then the "
        "client gets error -32011 and nothing runs",
    )
    cli.add_argument("-v", "--verbose", action="store_true", help="log each call on stderr")
    cli.add_argument("upstream", nargs=argparse.REMAINDER, help="-- the upstream server's command")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = args.upstream[1:] if args.upstream[:1] == ["--"] else args.upstream
    logging.basicConfig(  # stderr only: in stdio mode stdout is the MCP channel
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s mcp-gateway %(levelname)s %(message)s",
    )
    if not args.agent_key:
        print(f"mcp-gateway: no agent key: set ${KEY_VARIABLE} (or --agent-key)", file=sys.stderr)
        return 2
    if bool(command) == bool(args.upstream_url):
        print(
            "mcp-gateway: name one upstream: a command after --, or --upstream-url", file=sys.stderr
        )
        return 2
    upstream = Upstream(command=command or None, url=args.upstream_url, env=upstream_environment())
    try:
        asyncio.run(serve(args, upstream))
    except SupervisionError as refused:
        print(f"mcp-gateway: {refusal_message(refused, args.url)}", file=sys.stderr)
        return 2
    except UpstreamDidNotStart as failure:
        print(f"mcp-gateway: {failure}", file=sys.stderr)
        return 2
    except httpx.HTTPError as unreachable:
        print(
            f"mcp-gateway: cannot reach the dashboard at {args.url}: {unreachable}", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        pass
    return 0


async def serve(args: argparse.Namespace, upstream: Upstream) -> None:
    async with connected(
        args.url,
        args.agent_key,
        upstream,
        poll=args.poll,
        decision_timeout=args.decision_timeout,
    ) as server:
        if args.http:
            await serve_http(server, args.host, args.port)
        else:
            await serve_stdio(server)


def refusal_message(refused: SupervisionError, url: str) -> str:
    """Why the dashboard said no at start, in a line (not a whole HTML page)."""
    if refused.status == 404:
        return f"no dashboard API at {url} (404): give the dashboard's address, without /api"
    return f"the dashboard refused the agent key ({refused.status}: {refused.detail[:200]})"


def upstream_environment() -> dict[str, str]:
    """The upstream server gets this process's environment, minus the agent's key, so the tool
    does not receive the agent's credentials by default. (A server running as the same OS user
    can still read its parent's environment: run untrusted servers as another user or in a
    sandbox.)"""
    return {name: value for name, value in os.environ.items() if name != KEY_VARIABLE}
