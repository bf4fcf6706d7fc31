"""audit head is only the hash

The newest event's id is read with the head in one statement (services.audit.chain_head):
keeping it in the head cost a `SELECT max(id)` and an UPDATE in every audited commit.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


GENESIS_HASH = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("last_event_id")
    # The head exists from the start: two first appends at once on PostgreSQL would otherwise
    # both try to create it, and one request would fail.
    op.execute(
        f"INSERT INTO audit_head (id, last_hash) SELECT 1, '{GENESIS_HASH}' "
        "WHERE NOT EXISTS (SELECT 1 FROM audit_head)"
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_event_id", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        "UPDATE audit_head SET last_event_id = (SELECT COALESCE(max(id), 0) FROM audit_events)"
    )
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.alter_column("last_event_id", server_default=None)
