"""The book index: customers, entities, consents and sync progress.

Revision 0003: the store's schema step 3 (`_schema_3` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 3)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
