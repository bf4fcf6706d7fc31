"""`python -m supervision_client.mcp_gateway …`: see `cli.main`."""

from supervision_client.mcp_gateway.cli import main

raise SystemExit(main())
