"""The per-link refresh lease (``link-refresh/<link id>``), on the store's DbStateStore leases.

A row with an owner, a fencing token and an expiry: it holds across processes and machines,
and frees itself when its holder dies. The lease only keeps concurrent jobs from all calling
the provider; the compare-and-swap on the credential version is what keeps two refreshers
from both winning.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from glue_runtime.errors import StateLocked
from glue_runtime.statestore import Lease
from glue_runtime.workspace.dbstate import DbStateStore, link_refresh_key
from glue_runtime.workspace.store import Link, Store, leases

_PG_NOW = sa.text("SELECT extract(epoch FROM clock_timestamp())")


def lease_key(link: Link) -> str:
    return link_refresh_key(link.id)


def try_acquire(store: Store, key: str, owner: str, ttl_s: float) -> Lease | None:
    """The lease when it is free or expired; None while someone else holds it."""
    try:
        return DbStateStore(store).acquire(key, owner, ttl_s)
    except StateLocked:
        return None


def is_free(store: Store, key: str) -> bool:
    """True when nobody holds the lease (never taken, released, or expired by the clock
    DbStateStore uses: the database's on PostgreSQL)."""
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(leases.c.owner, leases.c.expires_at).where(leases.c.key == key)
        ).first()
        pg = conn.dialect.name == "postgresql"
        now = float(conn.execute(_PG_NOW).scalar_one()) if pg else time.time()
    return row is None or row.owner is None or row.expires_at <= now


class Keeper:
    """Holds a lease while a refresh waits to retry: ``renew`` extends it, and raises
    LeaseLost when it lapsed and someone else took it."""

    def __init__(self, store: Store, lease: Lease) -> None:
        self._state = DbStateStore(store)
        self.lease = lease

    def renew(self) -> None:
        self.lease = self._state.renew(self.lease)

    def release(self) -> None:
        self._state.release(self.lease)
