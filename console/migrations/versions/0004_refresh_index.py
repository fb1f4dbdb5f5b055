"""The refresh index, back over the refresh events already stored.

Revision 0004: the store's schema step 4 (`_schema_4` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 4)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
