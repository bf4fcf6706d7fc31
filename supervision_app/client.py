"""The agent client now lives in its own package, `clients/python` (`supervision_client`,
httpx only), so agents install it without the dashboard. This name stays for older imports."""

from supervision_client import (
    AsyncRun,
    AsyncSupervisionClient,
    Blocked,
    Decision,
    NotApproved,
    Run,
    SupervisionClient,
    SupervisionError,
    Terminated,
    verify_signature,
)

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
