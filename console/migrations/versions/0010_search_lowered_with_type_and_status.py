"""PostgreSQL: the text index keeps each text lower-cased, and each event's type and status.

Revision 0010: the store's schema step 10 (`_schema_10` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 10)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
