"""Where the examples connect: the URL and agent key given on the command line, or the demo's
(`make demo` writes its agents' keys into its data folder)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def demo_target(agent: str = "refund-intern") -> tuple[str, str]:
    """(url, api_key): `argv[1]` and `argv[2]`, else localhost:3000 and the demo agent's key."""
    url = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:3000"
    if len(sys.argv) > 2:
        return url, sys.argv[2]
    keys = Path(os.environ.get("DATA_DIR", "data")) / "demo-agent-keys.json"
    return url, next(k["api_key"] for k in json.loads(keys.read_text()) if k["name"] == agent)
