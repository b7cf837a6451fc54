"""signing: the typed name beside the designated one, the designated identity number

Revision ID: 0005g
Revises: 0004
Create Date: 2026-12-07 09:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005g'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('signature_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expected_id', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('typed_name', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('signature_request', schema=None) as batch_op:
        batch_op.drop_column('typed_name')
        batch_op.drop_column('expected_id')
