"""The event outbox: job and link events written in the same transaction as the change they
report, so a crash loses none; the service delivers them to glue.yml's webhooks.

``emit`` is what the jobs layer and the workspace call (it lives in the workspace layer so a
link's change of status can emit in its own transaction); delivery (signing, retries, the
record of each attempt, replay) is glue_runtime/service/delivery.py.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.protocol import dumps_exact
from glue_runtime.workspace.tables import metadata

EVENT_TYPES = ("job.started", "job.succeeded", "job.failed", "link.needs_reauth", "link.paused")

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # evt_...: the receivers' dedupe key
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("tenant", sa.String(200)),
    sa.Column("data", sa.Text, nullable=False),  # JSON, never a secret
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("outbox_by_time", "created_at"),
)


def new_event_id() -> str:
    return "evt_" + secrets.token_urlsafe(16)


def emit(conn: Connection, type_: str, data: dict[str, Any], *, tenant: str | None = None) -> str:
    """Record event ``type_`` in the caller's transaction; its id."""
    event_id = new_event_id()
    conn.execute(
        sa.insert(outbox).values(
            id=event_id,
            type=type_,
            tenant=tenant,
            data=dumps_exact(data).decode(),
            created_at=time.time(),
        )
    )
    return event_id
