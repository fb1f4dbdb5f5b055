"""Webhook events, refused deliveries and dead letters.

Revision 0001: the store's schema step 1 (`_schema_1` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 1)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
