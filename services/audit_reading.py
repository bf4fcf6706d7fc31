"""Audit events as people read them: one sentence each ("Sam approved proposal 41 with
changes"), the fields that changed, and where the object lives in the dashboard. Pure
functions over the stored event: the trail itself is never rewritten."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.audit import AuditEventRead
from services.escalation import DELEGATE, STEP_NAMES

CUT = 300  # a value longer than this is shown cut, with its length

OBJECT_NAMES = {
    "action_request": "action request",
    "execution": "run",
    "queue_entry": "queue entry",
    "escalation_chain": "escalation chain",
    "on_call_shift": "on-call hours",
    "notification_channel": "notice channel",
    "review_allow_list": "allow-list",
}
# The proposal's page says "their delegate" after the supervisor's name; here it stands alone.
STEP_WORDS = {**STEP_NAMES, DELEGATE: "the supervisor's delegate"}


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def actor_words(event: AuditEventRead) -> str:
    """Who did it, as a sentence starts."""
    if event.actor_type == "user":
        return event.actor_name
    if event.actor_type == "agent":
        return f"Agent {event.actor_name}"
    if event.actor_type == "autonomous_supervisor":
        return f"The AI supervisor {event.actor_name}"
    if event.actor_name and event.actor_name != "system":
        return f"The system ({event.actor_name})"
    return "The system"


def object_words(event: AuditEventRead) -> str:
    kind = OBJECT_NAMES.get(event.object_type, event.object_type.replace("_", " "))
    return f"{kind} {event.object_id}" if event.object_id else kind


def _after(event: AuditEventRead) -> dict[str, Any]:
    return event.after if isinstance(event.after, dict) else {}


def sentence(event: AuditEventRead) -> str:
    """One sentence for the event; unknown actions read "<actor> <did> <object>"."""
    who, what, after = actor_words(event), object_words(event), _after(event)
    action = event.action
    if action == "proposal.approved":
        text = f"{who} approved {what}"
        if after.get("modified_parameters") is not None:
            text += " with changes"
        return text + (f" (from {after['via']})" if after.get("via") else "")
    if action == "proposal.rejected":
        text = f"{who} rejected {what}"
        return text + (f" (from {after['via']})" if after.get("via") else "")
    if action == "proposal.expired":
        return f"{what.capitalize()} expired: nobody decided"
    if action == "proposal.escalated":
        step = STEP_WORDS.get(str(after.get("step")), str(after.get("step")))
        cause = f" ({after['cause']})" if after.get("cause") else ""
        return f"{what.capitalize()} moved on to {step}{cause}"
    if action == "proposal.reviewed":
        verdict = "approved it" if after.get("auto_approved") else f"said {after.get('decision')}"
        return f"{who} reviewed {what} and {verdict}"
    if action.startswith("action."):
        decision = action.split(".", 1)[1].replace("_", " ")
        return f"{who} asked to run {after.get('action', '?')}: {decision}"
    if action.startswith("execution."):
        verb = action.split(".", 1)[1].replace("_", " ")
        return f"{who}: {what} {verb}"
    if action == "presence.changed":
        before = event.before if isinstance(event.before, dict) else {}
        return (
            f"{what.capitalize()} went from {before.get('state', '?')} to {after.get('state', '?')}"
        )
    if action == "user.signed_in":
        return f"{who} signed in"
    if action.startswith("review_allow_list."):
        verb = "reset to the default" if action.endswith("reset") else "changed"
        return f"{who} {verb} the AI reviewer's allow-list of {what}"
    noun, _, verb = action.partition(".")
    return f"{who} {verb.replace('_', ' ') or noun} {what}".strip()


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= CUT else f"{text[:CUT]}… ({len(text)} characters)"


def changes(event: AuditEventRead) -> list[Change]:
    """Field by field, what the event changed (or recorded, when there was no before)."""
    before, after = event.before, event.after
    if isinstance(before, dict) or isinstance(after, dict):
        old = before if isinstance(before, dict) else {}
        new = after if isinstance(after, dict) else {}
        return [
            Change(field, _shown(old.get(field)), _shown(new.get(field)))
            for field in dict.fromkeys([*old, *new])
            if old.get(field) != new.get(field) or (field not in old and new.get(field) is not None)
        ]
    if before is None and after is None:
        return []
    return [Change("value", _shown(before), _shown(after))]


def link_for(object_type: str, object_id: str | None) -> str:
    """Where the object lives in the dashboard ("" when it has no page)."""
    if not object_id or not object_id.isdigit():
        return ""
    return {
        "proposal": f"/proposals?proposal={object_id}",
        "execution": f"/runs/{object_id}",
        "agent": f"/history/{object_id}",
        "queue_entry": "/queue",
        "user": "/users",
    }.get(object_type, "")
