"""The audit chain stays one chain when several processes and threads append at once: each
process remembers the head it last wrote only as a hint, and an append whose hint another
writer outdated links to the true head instead (services.audit._append_to_chain)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from services.audit import chain_head, verify_audit_chain
from services.db import read_scope
from tests.databases import on_postgres
from tests.factories import make_user

ROOT = Path(__file__).resolve().parents[2]

APPEND = """
import sys, threading, time
from services.actors import Actor
from services.audit import record_audit
from services.clock import utcnow
from services.db import session_scope

threads, each, start_at = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

def append(thread):
    for index in range(each):
        with session_scope() as session:
            record_audit(session=session, actor=Actor.system("race"), action="race.append",
                         object_type="race", object_id=f"{thread}-{index}", now=utcnow())

while time.time() < start_at:  # every process starts appending at the same moment
    time.sleep(0.001)
workers = [threading.Thread(target=append, args=(n,)) for n in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
"""


def append_elsewhere(database: str, processes: int, threads: int, each: int) -> None:
    env = {**os.environ, "DATABASE_URL": database, "DB_WRITE_WAIT_S": "60"}
    start_at = time.time() + 2.0
    children = [
        subprocess.Popen(
            [sys.executable, "-c", APPEND, str(threads), str(each), str(start_at)],
            cwd=ROOT,
            env=env,
        )
        for _ in range(processes)
    ]
    assert [child.wait(timeout=120) for child in children] == [0] * processes


def test_an_append_after_another_process_moved_the_head_links_to_the_true_head(now, database):
    make_user(now)  # this process now remembers the head it wrote
    append_elsewhere(database, processes=1, threads=1, each=1)
    make_user(now)  # its remembered head is outdated: it must link to the other's event
    with read_scope() as session:
        result = verify_audit_chain(session=session)
        head = chain_head(session=session)
    assert result.intact, result.problem
    assert result.checked == 3
    assert (head.last_event_id, head.hash) == (3, result.head_hash)


def test_processes_and_threads_appending_together_keep_one_intact_chain(now, database):
    make_user(now)
    threads = 4 if on_postgres() else 1  # SQLite: one writer per process at a time anyway
    append_elsewhere(database, processes=3, threads=threads, each=25)
    make_user(now)
    with read_scope() as session:
        result = verify_audit_chain(session=session)
        head = chain_head(session=session)
    assert result.intact, result.problem
    assert result.checked == 2 + 3 * threads * 25
    assert head.hash == result.head_hash
