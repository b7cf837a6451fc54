"""signature_request.copy_sha256: each link signer's own sealed copy; signed links end

A signed personal link used to open the receipt, the copy and withdrawal forever. From now on
token_expires_at of a signed request is when its link ends (SIGNED_LINK_DAYS, default 90, after
completion); requests signed before this revision get that date from their document's sealing
(or, if not sealed, their own signature).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 12:10:00

"""
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

SIGNED_LINK_DAYS = 90


def upgrade():
    with op.batch_alter_table('signature_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('copy_sha256', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_signature_request_copy_sha256_stored_file'),
            'stored_file',
            ['copy_sha256'],
            ['sha256'],
        )
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT r.id, r.signed_at, d.sealed_at FROM signature_request r "
            "JOIN document d ON d.id = r.document_id "
            "WHERE r.status = 'signed' AND r.signed_at IS NOT NULL"
        )
    ).all()
    for rid, signed_at, sealed_at in rows:
        base = sealed_at or signed_at
        if isinstance(base, str):  # SQLite returns text from a raw query
            from datetime import datetime

            base = datetime.fromisoformat(base)
        conn.execute(
            sa.text("UPDATE signature_request SET token_expires_at = :at WHERE id = :id"),
            {"at": base + timedelta(days=SIGNED_LINK_DAYS), "id": rid},
        )


def downgrade():
    with op.batch_alter_table('signature_request', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_signature_request_copy_sha256_stored_file'), type_='foreignkey'
        )
        batch_op.drop_column('copy_sha256')
