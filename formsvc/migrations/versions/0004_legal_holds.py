"""retention: legal holds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 17:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('legal_hold', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('legal_hold', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.drop_column('legal_hold')
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_column('legal_hold')
