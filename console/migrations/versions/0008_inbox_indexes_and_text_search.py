"""The inbox at a million events: indexes in its order and a text index.

Revision 0008: the store's schema step 8 (`_schema_8` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 8)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
