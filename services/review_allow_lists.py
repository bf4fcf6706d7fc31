"""What the rule reviewer may approve, per category of agents: admins' allow-lists.

The rule reviewer (no LLM configured) approves an INTERN's proposal only when its action is on
the allow-list of the agent's category and no risk rule fires. A category nobody configured
uses the default: REVIEW_SAFE_ACTIONS when set, otherwise the built-in read-only verbs
(`get…`, `list…`, `search…`). Every change is audited with the lists before and after.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from models import Agent, ReviewAllowList, User
from services.actors import Actor
from services.audit import record_audit
from services.errors import InvalidInput
from services.risk_analysis import is_read_only_action

MAX_PATTERNS = 200
MAX_PATTERN_LENGTH = 120
_PATTERN = re.compile(r"[a-z0-9_.*?:/\-]+")
_NAMED_START = re.compile(r"[a-z0-9_.:/\-]{3}")


@dataclass(frozen=True)
class AllowList:
    category: str
    patterns: tuple[str, ...]
    read_only_verbs: bool
    configured: bool  # False: the category uses the default
    updated_at: datetime | None = None
    updated_by: str | None = None

    def allows(self, action: str) -> bool:
        """On the list: a pattern matches the lowercased name, or (when enabled) the name
        only looks (services/risk_analysis.is_read_only_action)."""
        name = action.lower()
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns):
            return True
        return self.read_only_verbs and is_read_only_action(action)

    def describe(self) -> str:
        parts = list(self.patterns)
        if self.read_only_verbs:
            parts.insert(0, "read-only verbs")
        return ", ".join(parts) or "nothing"


def default_allow_list(category: str, default_patterns: tuple[str, ...]) -> AllowList:
    """REVIEW_SAFE_ACTIONS when an admin set it in the settings; else the read-only verbs."""
    return AllowList(
        category=category,
        patterns=default_patterns,
        read_only_verbs=not default_patterns,
        configured=False,
    )


def _read(row: ReviewAllowList, who: str | None) -> AllowList:
    return AllowList(
        category=row.category,
        patterns=tuple(row.patterns),
        read_only_verbs=row.read_only_verbs,
        configured=True,
        updated_at=row.updated_at,
        updated_by=who,
    )


def allow_list_for(
    *, session: Session, category: str, default_patterns: tuple[str, ...]
) -> AllowList:
    row = session.get(ReviewAllowList, category)
    if row is None:
        return default_allow_list(category, default_patterns)
    return _read(row, None)


def list_allow_lists(*, session: Session, default_patterns: tuple[str, ...]) -> list[AllowList]:
    """Every category that has agents or an allow-list, with its list in force."""
    rows = session.exec(
        select(ReviewAllowList, User.display_name).join(
            User, col(User.id) == ReviewAllowList.updated_by_user_id, isouter=True
        )
    ).all()
    configured = {row.category: _read(row, who) for row, who in rows}
    categories = set(session.exec(select(Agent.category).distinct()).all()) | set(configured)
    return [
        configured.get(category) or default_allow_list(category, default_patterns)
        for category in sorted(categories)
    ]


def parse_patterns(text: str) -> list[str]:
    """One pattern per line (or separated by commas), lowercased, duplicates dropped. A
    pattern must start with at least three plain characters of the name (`list_*`,
    `crm.get_*`): one starting with a wildcard (`*`, `*a*e*`) could match almost any action,
    and the list is for naming what is safe."""
    patterns = list(dict.fromkeys(p.strip().lower() for p in re.split(r"[\n,]", text)))
    patterns = [p for p in patterns if p]
    if len(patterns) > MAX_PATTERNS:
        raise InvalidInput(f"at most {MAX_PATTERNS} patterns", field="patterns")
    for pattern in patterns:
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise InvalidInput(
                f"pattern '{pattern[:40]}…' is longer than {MAX_PATTERN_LENGTH} characters",
                field="patterns",
            )
        if not _PATTERN.fullmatch(pattern):
            raise InvalidInput(
                f"pattern '{pattern}' may use only letters, digits, _ . : / - and the "
                "wildcards * and ?",
                field="patterns",
            )
        if not _NAMED_START.match(pattern):
            raise InvalidInput(
                f"pattern '{pattern}' would match almost any action: start it with at least "
                "3 characters of the name (e.g. list_*)",
                field="patterns",
            )
    return patterns


def _category(category: str) -> str:
    name = category.strip()
    if not name or len(name) > 60:
        raise InvalidInput("a category is 1 to 60 characters", field="category")
    return name


def _snapshot(allow: AllowList) -> dict[str, object]:
    return {
        "patterns": list(allow.patterns),
        "read_only_verbs": allow.read_only_verbs,
        "configured": allow.configured,
    }


def set_allow_list(
    *,
    session: Session,
    category: str,
    patterns: list[str],
    read_only_verbs: bool,
    default_patterns: tuple[str, ...],
    actor: Actor,
    now: datetime,
) -> AllowList:
    """Replace a category's allow-list (audited, before and after)."""
    category = _category(category)
    patterns = parse_patterns("\n".join(patterns))
    before = allow_list_for(session=session, category=category, default_patterns=default_patterns)
    row = session.get(ReviewAllowList, category) or ReviewAllowList(
        category=category, updated_at=now
    )
    row.patterns = patterns
    row.read_only_verbs = read_only_verbs
    row.updated_at = now
    row.updated_by_user_id = actor.id
    session.add(row)
    after = _read(row, actor.name)
    record_audit(
        session=session,
        actor=actor,
        action="review_allow_list.updated",
        object_type="category",
        object_id=category,
        now=now,
        before=_snapshot(before),
        after=_snapshot(after),
    )
    return after


def reset_allow_list(
    *,
    session: Session,
    category: str,
    default_patterns: tuple[str, ...],
    actor: Actor,
    now: datetime,
) -> AllowList:
    """Back to the default list (audited)."""
    category = _category(category)
    row = session.get(ReviewAllowList, category)
    after = default_allow_list(category, default_patterns)
    if row is None:
        return after
    before = _read(row, None)
    session.delete(row)
    record_audit(
        session=session,
        actor=actor,
        action="review_allow_list.reset",
        object_type="category",
        object_id=category,
        now=now,
        before=_snapshot(before),
        after=_snapshot(after),
    )
    return after
