import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError, IntegrityError

from services.audit import verify_audit_chain
from services.db import read_scope, session_scope
from tests.databases import on_postgres
from tests.factories import make_agent, make_user

pytestmark = pytest.mark.usefixtures("database")


def test_chain_of_real_events_verifies(now):
    make_user(now)
    make_agent(now)
    with read_scope() as session:
        result = verify_audit_chain(session=session)
    assert result.intact and result.checked == 2


def test_database_refuses_to_rewrite_or_delete_audit_events(now):
    make_user(now)
    with pytest.raises(DatabaseError, match="append-only"), session_scope() as session:
        session.exec(text("UPDATE audit_events SET action = 'nothing'"))
    with pytest.raises(DatabaseError, match="append-only"), session_scope() as session:
        session.exec(text("DELETE FROM audit_events"))


@pytest.mark.skipif(not on_postgres(), reason="SQLite has no TRUNCATE; DELETE covers it")
def test_postgres_refuses_to_truncate_audit_events(now):
    make_user(now)
    with pytest.raises(DatabaseError, match="append-only"), session_scope() as session:
        session.exec(text("TRUNCATE audit_events"))


def _remove_guards(session) -> None:
    """What an attacker with the database owner's rights could do."""
    if on_postgres():
        session.exec(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        session.exec(text("DROP TRIGGER audit_events_no_update"))


def test_tampering_is_located(now):
    make_user(now)
    make_user(now)
    with session_scope() as session:
        _remove_guards(session)
        session.exec(text("UPDATE audit_events SET actor_name = 'mallory' WHERE id = 2"))
    with read_scope() as session:
        result = verify_audit_chain(session=session)
    assert not result.intact
    assert result.broken_at_id == 2


def test_a_transaction_that_fails_leaves_no_audit_event_and_the_chain_intact(now):
    from services.actors import Actor
    from services.audit import record_audit

    make_user(now)
    with pytest.raises(RuntimeError), session_scope() as session:
        record_audit(
            session=session,
            actor=Actor.system("tests"),
            action="thing.done",
            object_type="thing",
            object_id=1,
            now=now,
        )
        raise RuntimeError("changed my mind")
    make_user(now)
    with read_scope() as session:
        result = verify_audit_chain(session=session)
        actions = session.exec(text("SELECT action FROM audit_events ORDER BY id")).all()
    assert result.intact and result.checked == 2
    assert [row[0] for row in actions] == ["user.created", "user.created"]


def _audited(session, action: str, now) -> None:
    from services.actors import Actor
    from services.audit import record_audit

    record_audit(
        session=session,
        actor=Actor.system("tests"),
        action=action,
        object_type="thing",
        object_id=1,
        now=now,
    )


def _actions() -> list[str]:
    with read_scope() as session:
        assert verify_audit_chain(session=session).intact
        rows = session.exec(text("SELECT action FROM audit_events ORDER BY id")).all()
    return [row[0] for row in rows]


def test_a_savepoint_that_fails_keeps_the_events_of_its_transaction(now):
    """The race paths that insert in a savepoint and expect a duplicate (a verdict written
    by two reviews at once): the transaction's decision is still audited."""
    from models import Agent

    taken = make_agent(now).agent.name
    with session_scope() as session:
        _audited(session, "decision.made", now)
        try:
            with session.begin_nested():
                _audited(session, "inside.the.savepoint", now)
                session.add(
                    Agent(
                        name=taken,
                        category="ops",
                        maturity_level="STUDENT",
                        api_key_hash="0" * 64,
                        api_key_hint="x",
                        webhook_secret="w",
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            pass
        _audited(session, "after.the.savepoint", now)
    assert _actions() == ["agent.created", "decision.made", "after.the.savepoint"]


def test_events_of_a_released_savepoint_are_written_with_the_transaction(now):
    with pytest.raises(RuntimeError), session_scope() as session:
        with session.begin_nested():
            _audited(session, "inside.the.savepoint", now)
        raise RuntimeError("the transaction fails after the savepoint was released")
    assert _actions() == []
    with session_scope() as session:
        with session.begin_nested():
            _audited(session, "inside.the.savepoint", now)
        _audited(session, "after.the.savepoint", now)
    assert _actions() == ["inside.the.savepoint", "after.the.savepoint"]
