"""participant: one record per identity number and district

Revision ID: 0005i
Revises: 0005g
Create Date: 2026-12-07 09:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005i'
down_revision = '0005g'
branch_labels = None
depends_on = None


def upgrade():
    # duplicates registered before this check cannot be merged automatically (each may have
    # signed documents): stop with the ids so that a person decides which record stays
    duplicates = op.get_bind().execute(sa.text(
        "SELECT district_id, MIN(id), MAX(id), COUNT(*) FROM participant "
        "WHERE id_number IS NOT NULL GROUP BY district_id, id_number HAVING COUNT(*) > 1"
    )).fetchall()
    if duplicates:
        listed = "; ".join(
            f"district {d}: participants {lo}..{hi} ({n} records)" for d, lo, hi, n in duplicates
        )
        raise RuntimeError(
            "the same identity number is registered twice in a district; merge or correct "
            f"these participants before upgrading: {listed}"
        )
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.create_unique_constraint(
            'uq_participant_district_id_number', ['district_id', 'id_number']
        )


def downgrade():
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.drop_constraint('uq_participant_district_id_number', type_='unique')
