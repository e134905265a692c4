"""The store rows of one link: deleting them in one short write transaction, and finding
the run leases that are still held on a link's or a tenant's state keys.

A link owns its row (settings and encrypted credentials), its catalog, its field map
override, its state and lease (key ``flow/tenant/connector``) and its token-refresh lease
(``link-refresh/<link id>``). A whole tenant's rows go with ``Store.remove_tenant``.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.workspace.store import (
    Link,
    Store,
    catalogs,
    fieldmap_overrides,
    leases,
    links,
    states,
)


def state_key(flow: str, tenant: str, connector: str) -> str:
    """The state (and run lease) key of a workspace link."""
    return f"{flow}/{tenant}/{connector}"


def refresh_lease_key(link_id: str) -> str:
    """The key of the lease a token refresh of the link holds."""
    return f"link-refresh/{link_id}"


def _tenant_keys(
    conn: Connection, table: sa.Table, tenant: str, link_ids: Iterable[str]
) -> list[str]:
    """The keys of ``table`` (states or leases) that belong to the tenant: ``flow/TENANT/c``
    (a tenant id holds no '/', so the middle part is exact) and its links' refresh leases."""
    refresh = {refresh_lease_key(i) for i in link_ids}
    rows = conn.execute(
        sa.select(table.c.key).where(
            sa.or_(table.c.key.contains(f"/{tenant}/", autoescape=True), table.c.key.in_(refresh))
        )
    ).scalars()
    found = []
    for key in rows:
        parts = key.split("/")
        if key in refresh or (len(parts) == 3 and parts[1] == tenant):
            found.append(key)
    return found


def held_leases(store: Store, tenant: str, connector_key: str | None, now: float) -> list[str]:
    """The run leases still held on the tenant's state keys (all of them, or the one key
    ``connector_key``): "KEY (pid P on HOST)" for each, for the refusal."""
    with store.engine.connect() as conn:
        keys = [connector_key] if connector_key else _tenant_keys(conn, leases, tenant, ())
        rows = conn.execute(
            sa.select(leases).where(
                leases.c.key.in_(keys), leases.c.owner.is_not(None), leases.c.expires_at > now
            )
        ).all()
    return [f"{r.key} (pid {r.pid} on {r.host})" for r in rows]


def _delete_keys(conn: Connection, table: sa.Table, keys: list[str]) -> int:
    if not keys:
        return 0
    return int(conn.execute(sa.delete(table).where(table.c.key.in_(keys))).rowcount)


def _delete_where(conn: Connection, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(sa.delete(table).where(*where)).rowcount)


def delete_link_rows(store: Store, link: Link) -> dict[str, int]:
    """Delete the link and its catalog, field map override, state and leases."""
    keys = [state_key(link.flow, link.tenant, link.connector), refresh_lease_key(link.id)]
    with store.write() as conn:
        removed = {
            table.name: _delete_where(
                conn,
                table,
                table.c.flow == link.flow,
                table.c.tenant == link.tenant,
                table.c.connector == link.connector,
            )
            for table in (catalogs, fieldmap_overrides)
        }
        removed["states"] = _delete_keys(conn, states, keys)
        removed["leases"] = _delete_keys(conn, leases, keys)
        removed["links"] = _delete_where(conn, links, links.c.id == link.id)
    return removed


def forget_catalog(store: Store, flow: str, tenant: str, connector: str) -> None:
    """Drop the link's stored catalog (its credentials changed unchecked: the next run
    discovers again with them)."""
    with store.write() as conn:
        _delete_where(
            conn,
            catalogs,
            catalogs.c.flow == flow,
            catalogs.c.tenant == tenant,
            catalogs.c.connector == connector,
        )
