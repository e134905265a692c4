"""Outbound events' tables: which outbox events were fanned out, one delivery per (event,
endpoint) and per replay, every attempt, and the endpoints' generated signing secrets.

The events themselves are the workspace's ``outbox`` (glue_runtime/workspace/outbox.py).
"""

from __future__ import annotations

import sqlalchemy as sa

from glue_runtime.workspace.tables import metadata

event_fanouts = sa.Table(
    "event_fanouts",
    metadata,
    # an outbox event whose deliveries were made (its primary key: two servers fan out once)
    sa.Column("event_id", sa.String(40), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)
event_deliveries = sa.Table(
    "event_deliveries",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("event_id", sa.String(40), nullable=False),
    sa.Column("endpoint", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(200)),  # the event's, for listings
    sa.Column("status", sa.String(16), nullable=False),  # pending|failed|delivered|dead
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float),  # NULL once delivered or dead
    # a server sending an attempt holds the delivery until then (claimed with an update-where)
    sa.Column("claimed_until", sa.Float),
    sa.Column("claim", sa.String(32)),
    sa.Column("last_code", sa.Integer),  # the receiver's last HTTP status
    sa.Column("last_error", sa.Text),  # never a secret
    sa.Column("replay_of", sa.String(32)),  # the delivery this one replays
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("delivered_at", sa.Float),
    sa.Index("event_deliveries_due", "status", "next_attempt_at"),
    sa.Index("event_deliveries_by_event", "event_id"),
)
event_attempts = sa.Table(
    "event_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(32), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("code", sa.Integer),  # HTTP status; NULL when no answer came
    sa.Column("error", sa.Text),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Index("event_attempts_by_delivery", "delivery_id"),
)
webhook_secrets = sa.Table(
    "webhook_secrets",
    metadata,
    sa.Column("endpoint", sa.String(200), primary_key=True),
    sa.Column("secret", sa.Text, nullable=False),  # encrypted
    sa.Column("created_at", sa.Float, nullable=False),
    # the secret it replaced, still signing (a second v1=) until previous_until: receivers
    # move to the new one meanwhile
    sa.Column("previous", sa.Text),  # encrypted
    sa.Column("previous_until", sa.Float),
)


def remove_tenant_rows(conn: sa.Connection, tenant: str) -> dict[str, int]:
    """Removing a tenant: its deliveries' attempts and its events' fan-out marks (the rows
    without a tenant column; the outbox and the deliveries go by their own)."""
    from glue_runtime.workspace.outbox import outbox

    theirs = sa.select(event_deliveries.c.id).where(event_deliveries.c.tenant == tenant)
    events = sa.select(outbox.c.id).where(outbox.c.tenant == tenant)
    return {
        "event_attempts": conn.execute(
            sa.delete(event_attempts).where(event_attempts.c.delivery_id.in_(theirs))
        ).rowcount,
        "event_fanouts": conn.execute(
            sa.delete(event_fanouts).where(event_fanouts.c.event_id.in_(events))
        ).rowcount,
    }
