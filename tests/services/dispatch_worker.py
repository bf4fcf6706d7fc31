"""A stand-in for one app process's scheduler: dispatches available work in a loop.

Run by tests/services/test_queue_processes.py as a separate OS process.
"""

from __future__ import annotations

import sys
import time

from services.dispatch import dispatch_all_available, recover_queue

if __name__ == "__main__":
    deadline = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < deadline:
        dispatch_all_available()
        recover_queue()
        time.sleep(0.01)
