"""The service's tables: service keys (hashed) and Idempotency-Key records."""

from __future__ import annotations

import sqlalchemy as sa

from glue_runtime.workspace.tables import metadata

service_keys = sa.Table(
    "service_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # the key's public prefix
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(200)),  # NULL: an admin key
    sa.Column("secret_hash", sa.String(64), nullable=False),  # sha256 of the secret part
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
    sa.Column("last_used_at", sa.Float),
)
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("service_key", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), primary_key=True),  # sha256 of the header's value
    sa.Column("job_ids", sa.Text, nullable=False),  # JSON list: the answer's jobs
    sa.Column("request_hash", sa.String(64), nullable=False),  # the body it came with
    sa.Column("created_at", sa.Float, nullable=False),
)
