"""reviewer allow-lists and verdicts

`review_allow_lists`: per category, the action patterns an admin lets the rule reviewer
approve (a category without a row keeps the default). `reviewer_verdicts`: one verdict of the
autonomous reviewer per proposal, real or shadow (computed after a human decided), beside the
human decision, for the reviewer's accountability screen. Nothing is backfilled: verdicts
count from the upgrade on.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:40:38.184607
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('review_allow_lists',
    sa.Column('category', sa.String(length=60), nullable=False),
    sa.Column('patterns', sa.JSON(), nullable=False),
    sa.Column('read_only_verbs', sa.Boolean(), nullable=False),
    sa.Column('updated_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('category')
    )
    op.create_table('reviewer_verdicts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('shadow', sa.Boolean(), nullable=False),
    sa.Column('reviewer_agent_id', sa.Integer(), nullable=True),
    sa.Column('reviewer_name', sa.String(length=80), nullable=True),
    sa.Column('reviewer', sa.String(length=40), nullable=True),
    sa.Column('model', sa.String(length=120), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('risk', sa.String(length=16), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('would_approve', sa.Boolean(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('claim', sa.String(length=32), nullable=True),
    sa.Column('claimed_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reviewed_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], ),
    sa.ForeignKeyConstraint(['reviewer_agent_id'], ['agents.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('proposal_id')
    )
    with op.batch_alter_table('reviewer_verdicts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reviewer_verdicts_reviewed_at'), ['reviewed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reviewer_verdicts_reviewer_agent_id'), ['reviewer_agent_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reviewer_verdicts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reviewer_verdicts_reviewer_agent_id'))
        batch_op.drop_index(batch_op.f('ix_reviewer_verdicts_reviewed_at'))

    op.drop_table('reviewer_verdicts')
    op.drop_table('review_allow_lists')
