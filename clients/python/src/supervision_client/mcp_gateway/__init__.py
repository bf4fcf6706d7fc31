"""An MCP gateway: put it between any MCP client (a desktop assistant, an IDE agent) and any MCP
server, and every tool call asks the supervision dashboard first — no change to either side.

    SUPERVISION_AGENT_KEY=sva_... python -m supervision_client.mcp_gateway \\
        --url http://localhost:3000 -- npx @modelcontextprotocol/server-filesystem /tmp

Needs the `mcp` extra: `pip install "supervision-client[mcp]"`.
"""

from supervision_client._extras import missing_extra

try:
    import mcp  # noqa: F401
except ModuleNotFoundError as missing:  # say what to install, not a bare import error
    raise missing_extra(missing, "mcp", "The MCP gateway") from missing

from supervision_client.mcp_gateway._governance import REFUSED, UNAVAILABLE, Governance
from supervision_client.mcp_gateway._server import Upstream, build_server, connected
from supervision_client.mcp_gateway.cli import main

__all__ = ["REFUSED", "UNAVAILABLE", "Governance", "Upstream", "build_server", "connected", "main"]
