"""The schedules' tables: per-tenant overrides and the ticks fired (one per schedule and tick).

``schedule_ticks``' primary key (schedule, tenant, tick) is what makes a tick fire once however
many servers run the scheduler: the first insert wins, the others get an IntegrityError and
skip. Both tables have a ``tenant`` column, so removing a tenant removes its rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from glue_runtime.workspace.tables import metadata

ALL_TENANTS = "*"  # schedule_overrides.tenant for a whole schedule's pause (no tenant id has '*')

schedule_overrides = sa.Table(
    "schedule_overrides",
    metadata,
    sa.Column("flow", sa.String(200), primary_key=True),
    sa.Column("schedule", sa.String(200), primary_key=True),
    sa.Column("tenant", sa.String(200), primary_key=True),  # or ALL_TENANTS
    sa.Column("cron", sa.Text),  # instead of glue.yml's timing (cron or every_s, or neither)
    sa.Column("every_s", sa.Integer),
    sa.Column("timezone", sa.String(64)),  # NULL: glue.yml's
    sa.Column("enabled", sa.Boolean),  # NULL: as glue.yml says
    sa.Column("updated_at", sa.Float, nullable=False),  # ticks before it are not missed runs
    sa.Column("updated_by", sa.Text, nullable=False, default=""),
)
schedule_ticks = sa.Table(
    "schedule_ticks",
    metadata,
    sa.Column("schedule", sa.String(401), primary_key=True),  # flow/name
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("tick", sa.BigInteger, primary_key=True),  # the tick, seconds since the epoch
    sa.Column("due_at", sa.Float, nullable=False),  # the tick plus the tenant's jitter
    sa.Column("fired_at", sa.Float, nullable=False),
    sa.Column("server", sa.Text, nullable=False, default=""),  # host:pid that fired it
    sa.Column("jobs", sa.Text, nullable=False, default="[]"),  # JSON [job ids]
    sa.Column("note", sa.Text, nullable=False, default=""),  # links skipped, and why
)
