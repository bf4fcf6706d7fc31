"""Who reads a run and who steers it: viewers read the team's runs and steer none."""

from __future__ import annotations

import pytest

from services import execution_reads, interventions
from services.db import read_scope, session_scope
from services.errors import DomainError
from services.inbox import sidebar_counts
from tests.factories import make_agent, make_user
from tests.services.test_inbox import ask

pytestmark = pytest.mark.usefixtures("database")


def test_a_viewer_reads_every_run_and_steers_none(now):
    sam, riley = make_user(now), make_user(now)
    viewer, admin = make_user(now, role="viewer"), make_user(now, role="admin")
    run_id = ask(make_agent(now, level="AUTONOMOUS", supervisor_id=sam.id), "sync", now)
    run_id = run_id.execution_id
    with read_scope() as session:
        for reader in (viewer, admin, sam):
            run = interventions.readable_execution(
                session=session, execution_id=run_id, caller=reader
            )
            steers = interventions.may_steer(session=session, execution=run, caller=reader)
            assert steers is (reader is not viewer), reader.role
        with pytest.raises(DomainError):  # another supervisor's run stays hidden
            interventions.readable_execution(session=session, execution_id=run_id, caller=riley)
        listed = execution_reads.list_executions(
            session=session, supervisor_user_id=execution_reads.watched_runs_scope(viewer)
        )
        assert [r.id for r in listed] == [run_id]
        assert sidebar_counts(
            session=session, user_id=viewer.id, is_admin=False, now=now, all_runs=True
        ) == (0, 0, 1)
    # Steering stays theirs: a viewer's pause is refused and changes nothing.
    with session_scope() as session, pytest.raises(DomainError):
        interventions.intervene(
            session=session, execution_id=run_id, caller=viewer, kind="pause", text=None, now=now
        )
