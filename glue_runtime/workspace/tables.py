"""The workspace store's tables (SQLAlchemy Core), one schema on SQLite and PostgreSQL.

Other workspace modules may define a table of their own on ``metadata``; the migrations
(glue_runtime/workspace/migrations) create every table on it.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("metadata", sa.Text, nullable=False, default="{}"),
    sa.Column("created_at", sa.Float, nullable=False),
)
links = sa.Table(
    "links",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("flow", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(200), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("connector", sa.String(200), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("auth", sa.String(16), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("settings", sa.Text, nullable=False, default="{}"),  # not secret
    sa.Column("secrets", sa.Text),  # encrypted JSON object (API key settings, OAuth tokens)
    sa.Column("credential_version", sa.Integer, nullable=False, default=0),
    sa.Column("expires_at", sa.Float),  # the access token's expiry, when it has one
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    # issue 13 (revision 0002): a paused link starts no job; consecutive failed jobs, which
    # pause it past the jobs.pause_after_failures setting
    sa.Column("paused_at", sa.Float),
    sa.Column("paused_reason", sa.Text),
    sa.Column("failures", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.UniqueConstraint("flow", "tenant", "connector", name="links_flow_tenant_connector"),
)
catalogs = sa.Table(
    "catalogs",
    metadata,
    sa.Column("flow", sa.String(200), primary_key=True),
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("connector", sa.String(200), primary_key=True),
    sa.Column("catalog", sa.Text, nullable=False),
    sa.Column("discovered_at", sa.Float, nullable=False),
)
fieldmap_overrides = sa.Table(
    "fieldmap_overrides",
    metadata,
    sa.Column("flow", sa.String(200), primary_key=True),
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("connector", sa.String(200), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),  # the field map, as YAML text
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False, default=""),
)
app_secrets = sa.Table(
    "app_secrets",
    metadata,
    sa.Column("flow", sa.String(200), primary_key=True),
    sa.Column("connector", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # encrypted
)
oauth_states = sa.Table(
    "oauth_states",
    metadata,
    sa.Column("state_hash", sa.String(64), primary_key=True),  # sha256 of the state value
    sa.Column("flow", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("connector", sa.String(200), nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("verifier", sa.Text),  # encrypted PKCE code verifier
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float),
)
link_tokens = sa.Table(
    "link_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("flow", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("connector", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)
states = sa.Table(
    "states",
    metadata,
    sa.Column("key", sa.String(600), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("key", sa.String(600), primary_key=True),
    sa.Column("owner", sa.Text),  # NULL when released
    sa.Column("token", sa.BigInteger, nullable=False),  # fencing token, only ever grows
    sa.Column("expires_at", sa.Float, nullable=False),  # seconds since the epoch
    sa.Column("host", sa.Text),  # where the holder runs, for messages
    sa.Column("pid", sa.Integer),
)
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.Text, nullable=False, default=""),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.Text, nullable=False, default=""),  # never a secret
)
