"""Issue 13: jobs, their logs, samples and results; service keys and idempotency keys;
triggers' secrets and deliveries; schedules' ticks; the event outbox; links can be paused.

While issue 13's parts are built, the new tables are created from their definitions (the
``TABLES`` below); before the next revision they are frozen into ``op.create_table`` calls
as 0001 was.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ISSUE_12 = frozenset(
    {
        "app_secrets",
        "audit",
        "catalogs",
        "fieldmap_overrides",
        "leases",
        "link_tokens",
        "links",
        "oauth_states",
        "states",
        "tenants",
    }
)


def _new_tables() -> list[sa.Table]:
    from glue_runtime.workspace.schema import VERSION_TABLE, all_tables

    return [
        t
        for name, t in all_tables().tables.items()
        if name not in _ISSUE_12 and name != VERSION_TABLE
    ]


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("paused_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("paused_reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("failures", sa.Integer, nullable=False, server_default="0"))
    bind = op.get_bind()
    for table in _new_tables():
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_new_tables()):
        table.drop(bind)
    with op.batch_alter_table("links") as batch:
        batch.drop_column("failures")
        batch.drop_column("paused_reason")
        batch.drop_column("paused_at")
