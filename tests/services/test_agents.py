import pytest

from models import Agent
from services import agents as agent_service
from services.actors import Actor
from services.db import read_scope, session_scope
from services.errors import AgentDisabled, AuthenticationFailed, Conflict, InvalidInput
from tests.factories import make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")


def test_created_agent_key_is_shown_once_and_stored_hashed(now):
    created = make_agent(now)
    assert created.api_key.startswith("sva_")
    with read_scope() as session:
        row = session.get(Agent, created.agent.id)
        assert created.api_key not in (row.api_key_hash, row.api_key_hint)
        assert (
            agent_service.authenticate_agent(session=session, api_key=created.api_key).id
            == created.agent.id
        )
    assert "api_key" not in created.agent.model_dump()


def test_rotating_the_key_revokes_the_old_one(now):
    created = make_agent(now)
    with session_scope() as session:
        rotated = agent_service.rotate_agent_key(
            session=session, agent_id=created.agent.id, now=now, actor=Actor.system()
        )
    with read_scope() as session:
        with pytest.raises(AuthenticationFailed):
            agent_service.authenticate_agent(session=session, api_key=created.api_key)
        assert (
            agent_service.authenticate_agent(session=session, api_key=rotated.api_key).id
            == created.agent.id
        )


def test_disabled_agent_is_refused(now):
    created = make_agent(now)
    with session_scope() as session:
        agent_service.update_agent(
            session=session,
            agent_id=created.agent.id,
            is_enabled=False,
            now=now,
            actor=Actor.system(),
        )
    with read_scope() as session, pytest.raises(AgentDisabled):
        agent_service.authenticate_agent(session=session, api_key=created.api_key)


def test_level_change_is_audited_with_before_and_after(now):
    from services.audit import list_audit_events

    supervisor = make_user(now)
    created = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    with session_scope() as session:
        updated = agent_service.update_agent(
            session=session,
            agent_id=created.agent.id,
            maturity_level="supervised",
            now=now,
            actor=Actor.system(),
        )
    assert updated.maturity_level == "SUPERVISED"
    with read_scope() as session:
        event = list_audit_events(session=session, action="agent.level_changed")[0]
    assert event.before["maturity_level"] == "INTERN"
    assert event.after["maturity_level"] == "SUPERVISED"


def test_duplicate_name_and_unknown_level_are_refused(now):
    created = make_agent(now)
    with session_scope() as session, pytest.raises(Conflict):
        agent_service.create_agent(
            session=session,
            name=created.agent.name.upper(),
            category="ops",
            maturity_level="INTERN",
            now=now,
            actor=Actor.system(),
        )
    with session_scope() as session, pytest.raises(InvalidInput) as error:
        agent_service.create_agent(
            session=session,
            name="fresh",
            category="ops",
            maturity_level="WIZARD",
            now=now,
            actor=Actor.system(),
        )
    assert error.value.field == "maturity_level"


def test_viewer_cannot_be_a_supervisor(now):
    viewer = make_user(now, role="viewer")
    with session_scope() as session, pytest.raises(InvalidInput) as error:
        agent_service.create_agent(
            session=session,
            name="watched",
            category="ops",
            maturity_level="SUPERVISED",
            supervisor_id=viewer.id,
            now=now,
            actor=Actor.system(),
        )
    assert error.value.field == "supervisor_id"


def test_an_agent_whose_supervisor_was_demoted_needs_a_supervisor(now):
    from services.agents import needs_supervisor
    from services.users import update_user

    supervisor = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=supervisor.id).agent
    autonomous = make_agent(now, level="AUTONOMOUS").agent
    assert not needs_supervisor(intern, supervisor)
    assert needs_supervisor(intern, None)
    assert not needs_supervisor(autonomous, None)
    with session_scope() as session:
        viewer = update_user(
            session=session,
            user_id=supervisor.id,
            role="viewer",
            now=now,
            actor=Actor.system("tests"),
        )
    assert needs_supervisor(intern, viewer)


def update(agent_id: int, now, **fields):
    """An admin's change to an agent, in its own transaction."""
    with session_scope() as session:
        return agent_service.update_agent(
            session=session, agent_id=agent_id, now=now, actor=Actor.system(), **fields
        )


def test_a_supervised_agent_without_a_supervisor_is_refused_as_it_could_never_act(now):
    """SUPERVISED runs only while its supervisor watches: created, moved to SUPERVISED or
    left without a supervisor, it would be refused every time it asked."""
    with pytest.raises(InvalidInput) as error, session_scope() as session:
        agent_service.create_agent(
            session=session,
            name="unwatched",
            category="ops",
            maturity_level="SUPERVISED",
            now=now,
            actor=Actor.system(),
        )
    assert error.value.field == "supervisor_id" and "choose a supervisor" in error.value.message

    intern = make_agent(now, level="INTERN")
    with pytest.raises(InvalidInput):
        update(intern.agent.id, now, maturity_level="SUPERVISED")
    supervisor = make_user(now)
    watched = make_agent(now, level="SUPERVISED", supervisor_id=supervisor.id)
    with pytest.raises(InvalidInput):
        update(watched.agent.id, now, supervisor_id=None)
    with read_scope() as session:
        assert (
            agent_service.get_agent(session=session, agent_id=intern.agent.id).maturity_level
            == "INTERN"
        )
        kept = agent_service.get_agent(session=session, agent_id=watched.agent.id)
    assert kept.supervisor_id == supervisor.id


def test_supervised_needs_a_supervisor_who_can_watch_and_old_agents_stay_editable(now):
    from services.users import update_user

    supervisor = make_user(now)
    intern = make_agent(now, level="INTERN", supervisor_id=supervisor.id)
    with session_scope() as session:
        update_user(
            session=session, user_id=supervisor.id, role="viewer", now=now, actor=Actor.system()
        )
    with pytest.raises(InvalidInput) as error:
        update(intern.agent.id, now, maturity_level="SUPERVISED")
    assert error.value.field == "supervisor_id"
    gone = make_user(now)
    gone_intern = make_agent(now, level="INTERN", supervisor_id=gone.id)
    with session_scope() as session:
        update_user(
            session=session, user_id=gone.id, is_active=False, now=now, actor=Actor.system()
        )
    with pytest.raises(InvalidInput):
        update(gone_intern.agent.id, now, maturity_level="SUPERVISED")

    # Left without a supervisor by an older version: it can still be disabled and edited.
    with session_scope() as session:
        old = session.get(Agent, intern.agent.id)
        old.maturity_level, old.supervisor_id = "SUPERVISED", None
        session.add(old)
    disabled = update(intern.agent.id, now, is_enabled=False, description="kept for the audit")
    assert not disabled.is_enabled
