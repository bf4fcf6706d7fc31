"""The command line sets who supervises an existing agent, and refuses what cannot work."""

from __future__ import annotations

import pytest

from services import agents as agent_service
from services.db import read_scope
from supervision_app.cli import main
from tests.factories import make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")


def supervisor_of(agent_id: int) -> int | None:
    with read_scope() as session:
        return agent_service.get_agent(session=session, agent_id=agent_id).supervisor_id


def test_set_supervisor_names_a_new_supervisor_and_refuses_nobody_for_supervised(now, capsys):
    sam, riley = make_user(now), make_user(now)
    agent = make_agent(now, level="SUPERVISED", supervisor_id=sam.id)
    name = agent.agent.name
    assert main(["set-supervisor", name, riley.username]) == 0
    assert supervisor_of(agent.agent.id) == riley.id
    # A SUPERVISED agent runs only while its supervisor watches: nobody would never do.
    assert main(["set-supervisor", name, "none"]) == 2
    assert "supervisor" in capsys.readouterr().err
    assert supervisor_of(agent.agent.id) == riley.id
    assert main(["set-supervisor", name, "no-such-user"]) == 2
    assert main(["set-supervisor", "no-such-agent", riley.username]) == 2
