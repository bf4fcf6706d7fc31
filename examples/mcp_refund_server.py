"""A tiny MCP server with one tool, standing in for any real one (files, GitHub, a database…).
It knows nothing about supervision: the gateway in front of it does."""

from __future__ import annotations

from mcp.server import MCPServer

server = MCPServer("refunds")


@server.tool()
def refund_order(order: str, amount: float, currency: str = "EUR") -> str:
    """Refund an amount of an order to the customer."""
    return f"Refunded {amount:.2f} {currency} on order {order}."


if __name__ == "__main__":
    server.run()  # stdio
