"""review and monitor claims

A review is claim → act → apply: a worker claims the proposal with a conditional update, calls
the model with no transaction open, and applies the verdict only while it still holds the
claim. `review_claim` is the claim's token while a review is under way and `done` after it.
The run monitor's LLM look claims a run's new events by moving `executions.monitored_seq`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.types
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_claim", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("review_claimed_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("monitored_seq", sa.Integer(), nullable=False, server_default="0")
        )
    # Decided proposals need no review; pending ones are reviewed (again) under today's rules.
    op.execute("UPDATE proposals SET review_claim = 'done' WHERE status <> 'pending'")


def downgrade() -> None:
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_column("monitored_seq")
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_column("review_claimed_at")
        batch_op.drop_column("review_claim")
