"""sso and e-ID: user.sso_*, sso_mapping_rule, sso_seen, signature_request e-ID columns (issue 14)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 21:40:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sso_provider', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('sso_subject', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('sso_login_at', sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_user_sso_provider'), ['sso_provider', 'sso_subject']
        )
    with op.batch_alter_table('signature_request', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('require_eid', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column('eid', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('eid_pending', sa.JSON(), nullable=True))
    op.create_table(
        'sso_mapping_rule',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=40), nullable=False),
        sa.Column('claim', sa.String(length=120), nullable=False),
        sa.Column('value', sa.String(length=255), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('district_id', sa.Integer(), nullable=True),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['district_id'], ['district.id'], name=op.f('fk_sso_mapping_rule_district_id_district')
        ),
        sa.ForeignKeyConstraint(
            ['created_by_id'], ['user.id'], name=op.f('fk_sso_mapping_rule_created_by_id_user')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sso_mapping_rule')),
    )
    op.create_table(
        'sso_seen',
        sa.Column('key', sa.String(length=300), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_sso_seen')),
    )
    with op.batch_alter_table('sso_seen', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sso_seen_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('sso_seen', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sso_seen_expires_at'))
    op.drop_table('sso_seen')
    op.drop_table('sso_mapping_rule')
    with op.batch_alter_table('signature_request', schema=None) as batch_op:
        batch_op.drop_column('eid_pending')
        batch_op.drop_column('eid')
        batch_op.drop_column('require_eid')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_user_sso_provider'), type_='unique')
        batch_op.drop_column('sso_login_at')
        batch_op.drop_column('sso_subject')
        batch_op.drop_column('sso_provider')
