"""A stand-in for one app process's scheduler: dispatches available work in a loop, one entry
per claim, so several such processes really compete for the same entries.

Run by tests/services/test_queue_processes.py as a separate OS process.
"""

from __future__ import annotations

import sys
import time

from services.dispatch import dispatch_all_available

if __name__ == "__main__":
    deadline = time.monotonic() + float(sys.argv[1])
    won = 0
    while time.monotonic() < deadline:
        won += len(dispatch_all_available(limit=1))
    print(won)
