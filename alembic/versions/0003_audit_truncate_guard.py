"""audit events refuse TRUNCATE on PostgreSQL

Row triggers do not fire on TRUNCATE, so on PostgreSQL the append-only rule needs a
statement-level guard too. SQLite has no TRUNCATE (its DELETE trigger already covers it).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 22:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
