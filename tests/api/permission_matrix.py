"""The permission matrix: who may call each route. `python -m tests.api.permission_matrix`
prints it as the Markdown table in docs/permissions.md; tests check both agree and walk it.

Callers: anon (no credentials), viewer, supervisor (a supervisor who does not own the
objects in the path), owner (the supervisor who does), admin, agent (an agent that does not
own the objects in the path), own-agent (the agent that does).
"""

from __future__ import annotations

CALLERS = ["anon", "viewer", "supervisor", "owner", "admin", "agent", "own-agent"]
USERS = {"viewer", "supervisor", "owner", "admin"}
ANYONE = set(CALLERS)
AGENTS = {"agent", "own-agent"}

MATRIX: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/health"): ANYONE,
    ("POST", "/api/auth/login"): ANYONE,
    ("POST", "/api/auth/logout"): USERS,
    ("GET", "/api/auth/me"): USERS,
    ("GET", "/api/users"): USERS,
    ("POST", "/api/users"): {"admin"},
    ("PATCH", "/api/users/{user_id}"): {"admin"},
    ("GET", "/api/agents"): USERS,
    ("POST", "/api/agents"): {"admin"},
    ("GET", "/api/agents/{agent_id}"): {"viewer", "owner", "admin"},
    ("PATCH", "/api/agents/{agent_id}"): {"admin"},
    ("POST", "/api/agents/{agent_id}/rotate-key"): {"admin"},
    ("GET", "/api/audit"): {"admin"},
    ("GET", "/api/audit/export"): {"admin"},
    ("GET", "/api/audit/head"): {"admin"},
    ("GET", "/api/audit/verify"): {"admin"},
    ("POST", "/api/v1/actions"): AGENTS,
    ("GET", "/api/v1/agents/me"): AGENTS,
    ("GET", "/api/v1/agents/me/work"): AGENTS,
    ("PUT", "/api/v1/agents/me/callback"): AGENTS,
    ("GET", "/api/v1/executions/{execution_id}"): {"own-agent"},
    ("POST", "/api/v1/executions/{execution_id}/events"): {"own-agent"},
    ("GET", "/api/v1/executions/{execution_id}/control"): {"own-agent"},
    ("GET", "/api/v1/executions/{execution_id}/stream"): {"own-agent"},
    ("GET", "/api/v1/proposals/{proposal_id}"): {"own-agent"},
    ("GET", "/api/v1/queue/{entry_id}"): {"own-agent"},
    ("POST", "/api/v1/proposals/{proposal_id}/withdraw"): {"own-agent"},
    ("POST", "/api/v1/queue/{entry_id}/withdraw"): {"own-agent"},
    ("POST", "/api/users/{user_id}/activity/sessions"): {"owner"},
    ("POST", "/api/users/{user_id}/activity/heartbeat"): {"owner"},
    ("GET", "/api/users/{user_id}/activity/state"): {"owner", "admin"},
    ("POST", "/api/users/{user_id}/activity/override"): {"owner"},
    ("DELETE", "/api/users/{user_id}/activity/override"): {"owner"},
    ("GET", "/api/users/{user_id}/activity/sessions"): {"owner", "admin"},
    ("GET", "/api/users/{user_id}/activity/changes"): {"owner", "admin"},
    ("GET", "/api/users/available-supervisors"): USERS,
    ("DELETE", "/api/activity/sessions/{session_token}"): {"owner", "admin"},
    # A closing tab's beacon carries no credentials but the tab's own token (in the body).
    ("POST", "/api/activity/sessions/close"): ANYONE,
    ("GET", "/api/supervised-queue/users/{user_id}"): {"owner", "admin"},
    ("GET", "/api/supervised-queue/stats"): USERS,
    ("POST", "/api/supervised-queue/process"): {"supervisor", "owner", "admin"},
    ("POST", "/api/supervised-queue/mark-expired"): {"admin"},
    ("GET", "/api/supervised-queue/{queue_id}"): {"owner", "admin"},
    ("DELETE", "/api/supervised-queue/{queue_id}"): {"owner", "admin"},
    ("PATCH", "/api/supervised-queue/{queue_id}/priority"): {"owner", "admin"},
    ("POST", "/api/supervised-queue/{queue_id}/run-now"): {"owner"},
    ("GET", "/api/supervision/sessions/active"): USERS,
    ("GET", "/api/supervision/agents/{agent_id}/sessions"): {"viewer", "owner", "admin"},
    ("POST", "/api/supervision/sessions/{session_id}/intervene"): {"owner", "admin"},
    ("POST", "/api/supervision/sessions/{session_id}/complete"): {"owner", "admin"},
    ("GET", "/api/supervision/{execution_id}/stream"): {"viewer", "owner", "admin"},
    ("GET", "/api/supervision/proposals"): USERS,
    ("GET", "/api/supervision/proposals/{proposal_id}"): {"owner", "admin"},
    ("POST", "/api/supervision/proposals/{proposal_id}/approve"): {"owner", "admin"},
    ("POST", "/api/supervision/proposals/{proposal_id}/reject"): {"owner", "admin"},
    ("POST", "/api/supervision/proposals/{proposal_id}/autonomous-approve"): {"owner", "admin"},
    ("GET", "/api/escalation/chains"): {"admin"},
    ("PUT", "/api/escalation/chains/{scope}"): {"admin"},
    ("DELETE", "/api/escalation/chains/{scope}"): {"admin"},
    ("GET", "/api/escalation/on-call"): USERS,
    ("POST", "/api/escalation/on-call"): {"admin"},
    ("DELETE", "/api/escalation/on-call/{shift_id}"): {"admin"},
    ("GET", "/api/escalation/delegations"): USERS,
    ("POST", "/api/escalation/delegations"): {"supervisor", "owner", "admin"},
    ("DELETE", "/api/escalation/delegations/{delegation_id}"): {"owner", "admin"},
    ("GET", "/api/escalation/channels"): {"admin"},
    ("POST", "/api/escalation/channels"): {"admin"},
    ("PATCH", "/api/escalation/channels/{channel_id}"): {"admin"},
    ("DELETE", "/api/escalation/channels/{channel_id}"): {"admin"},
    ("PUT", "/api/escalation/users/{user_id}/email"): {"owner", "admin"},
}

DASHBOARD = [
    ("Sign in, see the shell, set own presence", "viewer, supervisor, admin"),
    (
        "Needs you: see and act on waiting items",
        "supervisor (their own), admin (the team's; Run now only on their own queued work); "
        "a viewer sees an empty list written for viewers",
    ),
    (
        "Monitoring, a run's page, an agent's history: read",
        "viewer and admin (all runs, read-only for a viewer: an observer of the team's work, "
        "so a supervisor demoted to viewer reads every run and steers none), supervisor (the "
        "runs they watch and their agents')",
    ),
    (
        "Monitoring: watch runs, pause / resume / correct / terminate / complete",
        "the run's supervisor, admin (all runs); a supervisor demoted to viewer or "
        "deactivated steers nothing (403) and counts as unavailable, so their agents' new "
        'work waits and their agents show "needs a supervisor"',
    ),
    (
        "Proposals: approve, reject, approve modified",
        "the proposal's supervisor, everyone its escalation chain asked (a delegate, on-call "
        "people), admin",
    ),
    ("Escalation: chains and on-call hours", "admin (everyone may read the on-call hours)"),
    ("Escalation: notification channels (chat webhook, e-mail)", "admin"),
    ("Own e-mail address for notices", "everyone, for themselves; admin for anyone"),
    (
        "Decide from a notice's link",
        "the person it was e-mailed to (a sign-in for high-risk actions), or anyone signed in "
        "who may decide the proposal",
    ),
    (
        "Escalation: name a delegate while away",
        "supervisor and admin, for themselves; admin for anyone",
    ),
    ("Queue: cancel, reprioritise", "the entry's supervisor, admin (never a viewer)"),
    ("Queue: run now", "the entry's supervisor (must be online)"),
    ("Agents: list", "viewer and admin (all), supervisor (their own)"),
    ("Agents: register, change level, rotate key, disable", "admin"),
    ("Team presence", "viewer, supervisor, admin"),
    ("Audit: browse, verify, export", "admin"),
    ("Users: create, deactivate", "admin"),
]


def markdown() -> str:
    lines = [
        "# Permission matrix",
        "",
        "Generated from `tests/api/permission_matrix.py` (`python -m tests.api.permission_matrix`);",
        "`tests/api/test_permissions.py` walks every route with every kind of caller and fails on",
        "any route missing here or letting the wrong caller through.",
        "",
        "Callers: **supervisor** is a supervisor who does not own the object in the path; **owner**",
        "is the one who does; **agent** is an agent that does not own it; **own-agent** is the one",
        "that does. Refusals are 401 (no credentials), 403 (wrong kind of caller) or 404 (someone",
        "else's object: its existence is not revealed).",
        "",
        "## HTTP API",
        "",
        "| route | " + " | ".join(CALLERS) + " |",
        "|---|" + "---|" * len(CALLERS),
    ]
    for (method, path), allowed in MATRIX.items():
        marks = " | ".join("✓" if caller in allowed else "·" for caller in CALLERS)
        lines.append(f"| `{method} {path}` | {marks} |")
    lines += ["", "## Dashboard", "", "| action | who |", "|---|---|"]
    lines += [f"| {action} | {who} |" for action, who in DASHBOARD]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
