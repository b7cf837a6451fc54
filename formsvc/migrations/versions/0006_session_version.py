"""user.session_version: logout and a password change end every session of the user

Revision ID: 0006
Revises: 0005i
Create Date: 2026-12-07 10:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005i'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('session_version', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('session_version')
