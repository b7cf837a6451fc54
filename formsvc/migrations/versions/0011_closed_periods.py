"""closed_period, period_correction: frozen statistics periods and later corrections (issue 17)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 18:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'closed_period',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('start_on', sa.Date(), nullable=False),
        sa.Column('end_on', sa.Date(), nullable=False),
        sa.Column('scope', sa.String(length=40), nullable=False),
        sa.Column('district_id', sa.Integer(), nullable=True),
        sa.Column('closed_at', sa.DateTime(), nullable=False),
        sa.Column('closed_by_id', sa.Integer(), nullable=True),
        sa.Column('closed_by', sa.String(length=200), nullable=False),
        sa.Column('snapshot', sa.JSON(), nullable=False),
        sa.Column('snapshot_sha256', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ['closed_by_id'], ['user.id'], name=op.f('fk_closed_period_closed_by_id_user')
        ),
        sa.ForeignKeyConstraint(
            ['district_id'], ['district.id'], name=op.f('fk_closed_period_district_id_district')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_closed_period')),
        sa.UniqueConstraint('scope', 'start_on', 'end_on', name=op.f('uq_closed_period_scope')),
    )
    op.create_table(
        'period_correction',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('closed_period_id', sa.Integer(), nullable=False),
        sa.Column('document_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.String(length=1000), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ['closed_period_id'],
            ['closed_period.id'],
            name=op.f('fk_period_correction_closed_period_id_closed_period'),
        ),
        sa.ForeignKeyConstraint(
            ['created_by_id'], ['user.id'], name=op.f('fk_period_correction_created_by_id_user')
        ),
        sa.ForeignKeyConstraint(
            ['document_id'], ['document.id'], name=op.f('fk_period_correction_document_id_document')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_period_correction')),
    )
    with op.batch_alter_table('period_correction', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_period_correction_closed_period_id'), ['closed_period_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_period_correction_document_id'), ['document_id'], unique=False
        )


def downgrade():
    with op.batch_alter_table('period_correction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_period_correction_document_id'))
        batch_op.drop_index(batch_op.f('ix_period_correction_closed_period_id'))
    op.drop_table('period_correction')
    op.drop_table('closed_period')
