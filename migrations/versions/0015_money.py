"""one live charge per invoice: the unique index covers pending and paid charges, not only pending

Revision ID: 0015_money
Revises: 0014_auth
Create Date: 2026-12-01 09:00:00

A charge that succeeded (or was partly refunded) still holds its invoice, so a second payment
of the same invoice is refused by the database even after the first one settled. A fully
refunded charge is left out of the index: history holds doubled charges whose second copy was
refunded, and payment_app.payments decides new charges under an invoice lock that counts
refunded ones too (docs/guarantees.md).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_money'
down_revision = '0014_auth'
branch_labels = None
depends_on = None

LIVE = "invoice_id IS NOT NULL AND status IN ('pending', 'succeeded', 'partially_refunded')"
PENDING = "status = 'pending' AND invoice_id IS NOT NULL"


def _refuse_doubled_charges():
    doubled = op.get_bind().execute(sa.text(
        f"SELECT invoice_id::text FROM transactions WHERE {LIVE} GROUP BY invoice_id HAVING count(*) > 1"
    )).scalars().all()
    if doubled:
        raise RuntimeError(f"{len(doubled)} invoice(s) hold more than one unrefunded charge; refund the extra "
                           f"charge(s) first: {', '.join(doubled[:20])}")


def upgrade():
    _refuse_doubled_charges()
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('uq_transactions_one_live_charge_per_invoice', ['invoice_id'], unique=True,
                              postgresql_where=sa.text(LIVE))
        batch_op.drop_index('uq_transactions_one_pending_per_invoice', postgresql_where=sa.text(PENDING))


def downgrade():
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('uq_transactions_one_pending_per_invoice', ['invoice_id'], unique=True,
                              postgresql_where=sa.text(PENDING))
        batch_op.drop_index('uq_transactions_one_live_charge_per_invoice', postgresql_where=sa.text(LIVE))
