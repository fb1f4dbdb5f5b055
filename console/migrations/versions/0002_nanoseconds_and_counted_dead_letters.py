"""Nanoseconds of Lean's timestamps; dead letters counted by body.

Revision 0002: the store's schema step 2 (`_schema_2` in console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), 2)


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
