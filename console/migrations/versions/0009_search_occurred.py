"""PostgreSQL: the text index keeps when each event occurred.

Revision 0009: the store's schema step 9 (`_schema_9` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 9)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
