"""The triggers' tables: their public ids, secrets (encrypted), per-tenant URL tokens (hashed)
and the deliveries seen (the 24 h dedupe)."""

from __future__ import annotations

import sqlalchemy as sa

from glue_runtime.workspace.tables import metadata

trigger_endpoints = sa.Table(
    "trigger_endpoints",
    metadata,
    # The id in POST /v1/hooks/{id}: random, so a 404 tells a prober nothing about names.
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("flow", sa.String(200), nullable=False),
    sa.Column("trigger", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("flow", "trigger", name="trigger_endpoints_one_per_trigger"),
)
trigger_secrets = sa.Table(
    "trigger_secrets",
    metadata,
    sa.Column("flow", sa.String(200), primary_key=True),
    sa.Column("trigger", sa.String(200), primary_key=True),
    sa.Column("slot", sa.String(16), primary_key=True),  # current | previous (while rotating)
    sa.Column("secret", sa.Text, nullable=False),  # Store.seal'ed {"secret": ...}
    sa.Column("origin", sa.String(16), nullable=False),  # set (the provider's) | generated
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),  # a previous secret stops verifying then
)
trigger_tenant_tokens = sa.Table(
    "trigger_tenant_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # sha256 of the URL's token
    sa.Column("flow", sa.String(200), nullable=False),
    sa.Column("trigger", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("trigger_tenant_tokens_by_tenant", "tenant"),
)
trigger_deliveries = sa.Table(
    "trigger_deliveries",
    metadata,
    sa.Column("endpoint", sa.String(40), primary_key=True),  # trigger_endpoints.id
    sa.Column("dedupe", sa.String(64), primary_key=True),  # sha256 of the event id or body
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("tenant", sa.String(200)),
    sa.Column("outcome", sa.String(32), nullable=False),  # accepted | ignored_<why>
    sa.Column("job_id", sa.String(32)),
    sa.Index("trigger_deliveries_by_time", "received_at"),
    sa.Index("trigger_deliveries_by_tenant", "tenant"),
)
