"""${message}

Revision ${up_revision}: the store's schema step ${int(up_revision)} (console/store.py MIGRATIONS).
"""

from __future__ import annotations

from alembic import op

from console.migrations import apply_step

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_step(op.get_bind(), ${int(up_revision)})


def downgrade() -> None:
    raise NotImplementedError("the console's schema moves forward only")
