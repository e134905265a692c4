"""The initial schema: every table on ``glue_runtime.workspace.store.metadata``.

While issue 12's branches are merged, tables defined in other workspace modules on that
metadata are created here too (all workspace modules are imported first). Before the first
release this revision is frozen into explicit ``op.create_table`` calls; every change after
that is a new revision (a test compares the migrated schema with the tables).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from glue_runtime.workspace.schema import all_tables

    all_tables().create_all(op.get_bind())


def downgrade() -> None:
    from glue_runtime.workspace.schema import all_tables

    all_tables().drop_all(op.get_bind())
