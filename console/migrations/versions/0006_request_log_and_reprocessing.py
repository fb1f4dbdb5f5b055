"""The request log of Lean calls; dead letters remember being reprocessed.

Revision 0006: the store's schema step 6 (`_schema_6` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 6)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
