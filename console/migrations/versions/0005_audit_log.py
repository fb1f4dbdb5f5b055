"""The audit log, append-only in the database itself.

Revision 0005: the store's schema step 5 (`_schema_5` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 5)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
