"""Pausing a link: a paused link starts no job (by hand, or after failing too often) until it
is resumed. Pausing emits ``link.paused`` in the same transaction; resuming clears the
count of consecutive failures, so an auto-paused link gets a fresh start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.workspace.outbox import emit
from glue_runtime.workspace.store import Store
from glue_runtime.workspace.tables import links


@dataclass(frozen=True)
class LinkHealth:
    """A link's pause and failure count."""

    flow: str
    tenant: str
    connector: str
    paused_at: float | None
    paused_reason: str | None
    failures: int

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "tenant": self.tenant,
            "connector": self.connector,
            "paused": self.paused,
            "paused_at": self.paused_at,
            "paused_reason": self.paused_reason,
            "failures": self.failures,
        }


def _where(flow: str, tenant: str, connector: str) -> Any:
    return (links.c.flow == flow) & (links.c.tenant == tenant) & (links.c.connector == connector)


def health_in(conn: Connection, flow: str, tenant: str, connector: str) -> LinkHealth | None:
    r = conn.execute(
        sa.select(links.c.paused_at, links.c.paused_reason, links.c.failures).where(
            _where(flow, tenant, connector)
        )
    ).first()
    if r is None:
        return None
    return LinkHealth(flow, tenant, connector, r.paused_at, r.paused_reason, r.failures)


def pause_in(
    conn: Connection,
    flow: str,
    tenant: str,
    connector: str,
    reason: str,
    now: float,
    **extra: Any,
) -> bool:
    """Pause the link in the caller's transaction and emit ``link.paused``; False when it was
    paused already (nothing changes, no second event)."""
    done = conn.execute(
        sa.update(links)
        .where(_where(flow, tenant, connector) & links.c.paused_at.is_(None))
        .values(paused_at=now, paused_reason=reason, updated_at=now)
    )
    if done.rowcount != 1:
        return False
    health = health_in(conn, flow, tenant, connector)
    assert health is not None
    emit(conn, "link.paused", {**health.as_dict(), **extra}, tenant=tenant)
    return True


def pause_link(
    store: Store,
    flow: str,
    tenant: str,
    connector: str,
    reason: str = "",
    *,
    now: float | None = None,
) -> LinkHealth:
    """Pause a tenant's link (a named error when there is none); pausing a paused link keeps
    its first pause and reason."""
    store.link(flow, tenant, connector)
    at = time.time() if now is None else now
    with store.write() as conn:
        pause_in(conn, flow, tenant, connector, reason or "paused by hand", at)
        health = health_in(conn, flow, tenant, connector)
    assert health is not None
    return health


def resume_link(
    store: Store, flow: str, tenant: str, connector: str, *, now: float | None = None
) -> LinkHealth:
    """Resume a paused link and clear its count of consecutive failures."""
    store.link(flow, tenant, connector)
    at = time.time() if now is None else now
    with store.write() as conn:
        conn.execute(
            sa.update(links)
            .where(_where(flow, tenant, connector))
            .values(paused_at=None, paused_reason=None, failures=0, updated_at=at)
        )
        health = health_in(conn, flow, tenant, connector)
    assert health is not None
    return health


def link_health(store: Store, flow: str, tenant: str, connector: str) -> LinkHealth:
    store.link(flow, tenant, connector)
    with store.engine.connect() as conn:
        health = health_in(conn, flow, tenant, connector)
    assert health is not None
    return health
