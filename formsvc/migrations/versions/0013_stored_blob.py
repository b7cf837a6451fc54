"""stored_blob: encrypted file bytes for STORAGE_BACKEND = "database" (issue 15, docs/adr/019)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 01:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stored_blob',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('blob', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('sha256', name=op.f('pk_stored_blob')),
    )
    if op.get_bind().dialect.name == 'postgresql':
        # AES-GCM ciphertext does not compress: keep TOAST from trying on every write
        op.execute('ALTER TABLE stored_blob ALTER COLUMN blob SET STORAGE EXTERNAL')


def downgrade():
    op.drop_table('stored_blob')
