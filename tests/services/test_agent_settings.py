"""Agent settings that cannot work are refused, saying why: from the command line and the service."""

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


def test_may_supervise_is_refused_below_autonomous_saying_why(now):
    from services import agents as agents_service
    from services.actors import Actor, ActorType
    from services.db import session_scope
    from services.errors import InvalidInput

    admin = Actor(ActorType.USER, make_user(now, role="admin").id, "admin")
    with session_scope() as session, pytest.raises(InvalidInput, match="only an AUTONOMOUS"):
        agents_service.create_agent(
            session=session,
            name="eager-intern",
            category="ops",
            maturity_level="INTERN",
            can_supervise=True,
            now=now,
            actor=admin,
        )
    intern = make_agent(now, level="INTERN")
    with session_scope() as session, pytest.raises(InvalidInput) as refused:
        agents_service.update_agent(
            session=session, agent_id=intern.agent.id, can_supervise=True, now=now, actor=admin
        )
    assert refused.value.field == "can_supervise"
