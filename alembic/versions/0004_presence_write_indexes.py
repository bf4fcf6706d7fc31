"""drop presence indexes no query uses

The presence pass rewrites `presence_status.state` and appends `presence_changes` rows for up
to every user at once; each index on those is written for every row. No query looks users up
by state (the pass scans the table) or changes by time (lists are newest id first), so these
two indexes only cost writes. Without the state index, PostgreSQL moves a user in place (a
HOT update).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 01:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("presence_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_presence_status_state"))
    with op.batch_alter_table("presence_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_presence_changes_at"))


def downgrade() -> None:
    with op.batch_alter_table("presence_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_presence_changes_at"), ["at"], unique=False)
    with op.batch_alter_table("presence_status", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_presence_status_state"), ["state"], unique=False)
