"""PostgreSQL: the audit log's subjects indexed for a search by their first characters.

Revision 0011: the store's schema step 11 (`_schema_11` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 11)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
