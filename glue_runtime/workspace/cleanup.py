"""Removing what the store holds for a tenant, and purging expired one-time values.

Both run in one short write transaction. Lease rows of live keys are never purged: a lease's
fencing token must only grow, and a deleted row would start again at 0. A removed tenant's
lease rows do go: its keys are gone with it, and a job still running for it then finds its
lease gone and commits nothing more.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.workspace import schema
from glue_runtime.workspace.tables import (
    audit,
    leases,
    link_tokens,
    links,
    oauth_states,
    states,
    tenants,
)

if TYPE_CHECKING:
    from glue_runtime.workspace.store import Store

REFRESH_PREFIX = "link-refresh/"  # the per-link refresh lease (dbstate.link_refresh_key)


def remove_tenant(store: Store, tenant: str) -> dict[str, int]:
    """Delete the tenant and everything of theirs; rows removed per table (zeros included).

    Every table with a ``tenant`` column goes (links with their encrypted credentials,
    catalogs, overrides, OAuth states, link tokens, and tables other modules add, such as job
    records), plus the state and lease rows of the tenant's keys. Revoking tokens at the
    provider is the caller's part, before this. ConfigError (with close matches) for an
    unknown tenant, with nothing removed."""
    store.tenant(tenant)
    removed: dict[str, int] = {}
    with store.write() as conn:
        link_ids = list(
            conn.execute(sa.select(links.c.id).where(links.c.tenant == tenant)).scalars()
        )
        keys = _state_keys(conn, states, tenant)
        lease_keys = _state_keys(conn, leases, tenant) + [REFRESH_PREFIX + i for i in link_ids]
        removed["states"] = _delete_keys(conn, states, keys)
        removed["leases"] = _delete_keys(conn, leases, lease_keys)
        # The layers above first (job logs have no tenant column: they go with their jobs)
        for cleanup in schema.tenant_cleanups():
            for name, count in cleanup(conn, tenant).items():
                removed[name] = removed.get(name, 0) + count
        # Children before parents: links (and others) refer to tenants.
        for table in reversed(schema.all_tables().sorted_tables):
            if "tenant" in table.c and table.name != "tenants":
                removed[table.name] = (
                    removed.get(table.name, 0)
                    + conn.execute(sa.delete(table).where(table.c.tenant == tenant)).rowcount
                )
        removed["tenants"] = conn.execute(sa.delete(tenants).where(tenants.c.id == tenant)).rowcount
        conn.execute(
            sa.insert(audit).values(
                at=time.time(), actor="", action="tenant.remove", subject=tenant
            )
        )
    return dict(sorted(removed.items()))


def _state_keys(conn: Connection, table: sa.Table, tenant: str) -> list[str]:
    """The keys ``FLOW/TENANT/CONNECTOR`` of ``tenant`` (tenant ids have no '/')."""
    pattern = "%/" + _escape_like(tenant) + "/%"
    found = conn.execute(sa.select(table.c.key).where(table.c.key.like(pattern, escape="\\")))
    return [k for k in found.scalars() if len(parts := k.split("/")) == 3 and parts[1] == tenant]


def _delete_keys(conn: Connection, table: sa.Table, keys: list[str]) -> int:
    if not keys:
        return 0
    return conn.execute(sa.delete(table).where(table.c.key.in_(keys))).rowcount


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def purge_expired(store: Store, now: float | None = None) -> dict[str, int]:
    """Delete OAuth ``state`` values and link tokens past their expiry (used or not); rows
    removed per table. ``now``: seconds since the epoch (default: this machine's clock)."""
    at = time.time() if now is None else now
    with store.write() as conn:
        return {
            table.name: conn.execute(sa.delete(table).where(table.c.expires_at < at)).rowcount
            for table in (oauth_states, link_tokens)
        }
