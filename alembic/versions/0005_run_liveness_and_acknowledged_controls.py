"""run liveness and acknowledged controls

Every run gets liveness (`last_seen_at`, renewed by its agent's reports and control polls) and
the time it was first offered to its agent; the queue's own lease clock goes (a queued run's
liveness is its execution's). Controls are delivered until the agent acknowledges them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

import models.types
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_seen_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("offered_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_executions_last_seen_at"), ["last_seen_at"], unique=False
        )
    # Runs already under way count as seen at the upgrade: the first liveness pass gives
    # their agents a full window to report, instead of ending every older run at once.
    executions = sa.table(
        "executions",
        sa.column("status", sa.String),
        sa.column("last_seen_at", models.types.UTCDateTime(timezone=True)),
    )
    op.execute(
        executions.update()
        .where(executions.c.status.in_(["ready", "running", "paused"]))
        .values(last_seen_at=datetime.now(UTC))
    )
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("acknowledged_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
    # Controls sent before acknowledgements existed count as applied.
    op.execute("UPDATE interventions SET acknowledged_at = delivered_at")
    with op.batch_alter_table("queue_entries", schema=None) as batch_op:
        batch_op.drop_column("lease_expires_at")


def downgrade() -> None:
    with op.batch_alter_table("queue_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "lease_expires_at", models.types.UTCDateTime(timezone=True), nullable=True
            )
        )
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.drop_column("acknowledged_at")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_executions_last_seen_at"))
        batch_op.drop_column("offered_at")
        batch_op.drop_column("last_seen_at")
