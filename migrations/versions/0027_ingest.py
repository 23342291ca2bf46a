"""usage_events: fillfactor 50, so the batch's pending -> counted update stays on the row's own page

Revision ID: 0027_ingest
Revises: 0026_billrun
Create Date: 2026-12-01 14:15:00

POST /v1/usage/events inserts a batch's rows pending, commits, counts them in Redis, then marks them
counted in a second transaction. On full pages that update wrote every new row version to another
page, with a new entry in each of the table's three indexes (no HOT update: 0 of 27,600 in a bench);
with half of each page free it is a heap-only update: 8 KiB of WAL a 100-row batch instead of 53-60,
the heap the same size (the versions took new pages before) and the indexes a third smaller
(bench/README.md, "Usage events and period close"). Only pages written from now on keep the room.
"""
from alembic import op

revision = '0027_ingest'
down_revision = '0026_billrun'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE usage_events SET (fillfactor = 50)")


def downgrade():
    op.execute("ALTER TABLE usage_events RESET (fillfactor)")
