"""A small client for agents: ask to act, report what you do, obey your supervisor.

Depends only on httpx. Blocking::

    from supervision_client import SupervisionClient, Terminated

    client = SupervisionClient("http://localhost:3000", api_key="sva_...")
    decision = client.act("send_email", {"to": "a@example.com"}, reason="customer asked")
    run = client.wait_for_decision(decision)      # returns at once when approved_to_run
    try:
        run.progress("drafting", 0, 2)
        run.log("draft ready")
        run.complete({"sent": True})
    except Terminated as stop:
        print("supervisor stopped me:", stop.reason)

The same with asyncio: `AsyncSupervisionClient`, every call awaited.
"""

from supervision_client._async import AsyncRun, AsyncSupervisionClient
from supervision_client._protocol import (
    Blocked,
    Decision,
    NotApproved,
    SupervisionError,
    Terminated,
    verify_signature,
)
from supervision_client._sync import Run, SupervisionClient

__all__ = [
    "AsyncRun",
    "AsyncSupervisionClient",
    "Blocked",
    "Decision",
    "NotApproved",
    "Run",
    "SupervisionClient",
    "SupervisionError",
    "Terminated",
    "verify_signature",
]
