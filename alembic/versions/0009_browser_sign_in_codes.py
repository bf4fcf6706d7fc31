"""browser sign-in codes

The dashboard's sign-in token moves into an HttpOnly cookie: a sign-in hands the browser a
one-time code (hash stored here, valid for seconds) that /api/auth/browser exchanges for
the cookie, so the token never reaches the page's scripts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 03:06:19.528287
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sign_in_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('expires_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', models.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sign_in_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_codes_code_hash'), ['code_hash'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('sign_in_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_codes_code_hash'))

    op.drop_table('sign_in_codes')
