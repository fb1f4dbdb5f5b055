"""The newest bank availability event found in one seek (an index of bank events' ids only).

Revision 0012: the store's schema step 12 (`_schema_12` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 12)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
