"""audit_checkpoint: signed checkpoints of the audit chain's head (docs/adr/008)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'audit_checkpoint',
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('event_count', sa.Integer(), nullable=False),
        sa.Column('head_id', sa.Integer(), nullable=False),
        sa.Column('head_hash', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=20), nullable=False),
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.Column('signature', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_checkpoint')),
    )
    with op.batch_alter_table('audit_checkpoint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_checkpoint_head_id'), ['head_id'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_checkpoint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_checkpoint_head_id'))
    op.drop_table('audit_checkpoint')
