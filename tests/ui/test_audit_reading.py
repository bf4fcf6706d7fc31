"""Audit events read as sentences, with the fields they changed and where their object lives."""

from __future__ import annotations

from datetime import UTC, datetime

from services import audit_reading as reading
from services.audit import AuditEventRead

AT = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)


def event(
    action,
    actor_type="user",
    actor_name="Sam",
    object_type="proposal",
    object_id="41",
    before=None,
    after=None,
):
    return AuditEventRead(
        id=1,
        at=AT,
        actor_type=actor_type,
        actor_id=1,
        actor_name=actor_name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        request_id=None,
        hash="h",
    )


def test_decisions_read_as_sentences():
    changed = event("proposal.approved", after={"modified_parameters": {"limit": 10}})
    assert reading.sentence(changed) == "Sam approved proposal 41 with changes"
    mailed = event("proposal.rejected", after={"reason": "no", "via": "email:team mail"})
    assert reading.sentence(mailed) == "Sam rejected proposal 41 (from email:team mail)"
    ai = event(
        "proposal.approved", actor_type="autonomous_supervisor", actor_name="steward", after={}
    )
    assert reading.sentence(ai) == "The AI supervisor steward approved proposal 41"
    hop = event(
        "proposal.escalated",
        actor_type="system",
        actor_name="escalation",
        after={"step": "on_call", "cause": "nobody decided in time"},
    )
    assert reading.sentence(hop) == (
        "Proposal 41 moved on to the on-call supervisors (nobody decided in time)"
    )
    asked = event(
        "action.proposed",
        actor_type="agent",
        actor_name="refund-intern",
        object_type="action_request",
        object_id="7",
        after={"action": "refund_order"},
    )
    assert reading.sentence(asked) == "Agent refund-intern asked to run refund_order: proposed"
    moved = event(
        "presence.changed",
        object_type="user",
        object_id="2",
        before={"state": "online"},
        after={"state": "away", "reason": "idle"},
    )
    assert reading.sentence(moved) == "User 2 went from online to away"
    other = event("agent.key_rotated", object_type="agent", object_id="3")
    assert reading.sentence(other) == "Sam key rotated agent 3"


def test_changes_are_listed_field_by_field_and_long_values_are_cut():
    changed = event(
        "user.updated",
        object_type="user",
        before={"role": "supervisor", "is_active": True},
        after={"role": "viewer", "is_active": True, "note": "x" * 400},
    )
    lines = reading.changes(changed)
    assert [(c.field, c.before, c.after) for c in lines[:1]] == [("role", "supervisor", "viewer")]
    assert lines[1].field == "note" and lines[1].after.endswith("… (400 characters)")
    assert [c.field for c in lines] == ["role", "note"]  # is_active did not change


def test_objects_link_to_their_page():
    assert reading.link_for("proposal", "41") == "/proposals?proposal=41"
    assert reading.link_for("execution", "7") == "/runs/7"
    assert reading.link_for("agent", "3") == "/history/3"
    assert reading.link_for("escalation_chain", "category:x") == ""
