"""Refused deliveries counted per minute, reason and source.

Revision 0007: the store's schema step 7 (`_schema_7` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 7)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
