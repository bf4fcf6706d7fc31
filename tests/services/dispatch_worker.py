"""A stand-in for one app process's scheduler: dispatches available work in a loop, one entry
per claim, so several such processes really compete for the same entries. Prints how many
entries its claims won, and how many claims lost to another process.

Run by tests/services/test_queue_processes.py as a separate OS process.
"""

from __future__ import annotations

import sys
import time

from services.clock import utcnow
from services.db import read_scope
from services.dispatch import dispatch_all_available
from services.queue import supervisors_with_pending

if __name__ == "__main__":
    if len(sys.argv) > 2:  # start together with the other workers, imports done
        time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
    deadline = time.monotonic() + float(sys.argv[1])
    won = lost = 0
    while time.monotonic() < deadline:
        with read_scope() as session:
            waiting = supervisors_with_pending(session=session, now=utcnow())
        claimed = len(dispatch_all_available(limit=1))
        won += claimed
        # Work was waiting and this claim got none: another process's claim won the entry.
        lost += bool(waiting) and not claimed
    print(won, lost)
