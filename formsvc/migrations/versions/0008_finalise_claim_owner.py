"""document.finalise_claimed_by: which process holds the finalise claim (a dead one is taken over)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 11:50:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('finalise_claimed_by', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_column('finalise_claimed_by')
