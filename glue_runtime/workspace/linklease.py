"""The per-link refresh lease (``link-refresh/<link id>``) on the store's leases table.

A row with an owner, a fencing token that only grows, and an expiry: held across processes
and machines, taken over once it expires (its holder died). Taking and releasing it are short
write transactions; nothing is held open while the token URL is called.

(The store engineer's DbStateStore gives the same lease to state keys; when it lands this
module can delegate to it. The compare-and-swap on the credential version is what makes two
refreshers unable to both win; the lease only keeps them from both calling the provider.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa

from glue_runtime.workspace.store import Link, Store, leases


def lease_key(link: Link) -> str:
    return f"link-refresh/{link.id}"


def try_acquire(
    store: Store, key: str, owner: str, ttl_s: float, clock: Callable[[], float] = time.time
) -> int | None:
    """Take the lease when it is free or expired: its new fencing token, else None."""
    at = clock()
    try:
        with store.write() as conn:
            row = conn.execute(
                sa.select(leases.c.owner, leases.c.token, leases.c.expires_at).where(
                    leases.c.key == key
                )
            ).first()
            if row is None:
                conn.execute(
                    sa.insert(leases).values(key=key, owner=owner, token=1, expires_at=at + ttl_s)
                )
                return 1
            if row.owner is not None and row.expires_at > at:
                return None
            done = conn.execute(
                sa.update(leases)
                .where(leases.c.key == key, leases.c.token == row.token)
                .values(owner=owner, token=row.token + 1, expires_at=at + ttl_s)
            )
            return int(row.token) + 1 if done.rowcount == 1 else None
    except sa.exc.IntegrityError:  # PostgreSQL: another process inserted the row first
        return None


def is_free(store: Store, key: str, clock: Callable[[], float] = time.time) -> bool:
    """True when nobody holds the lease (never taken, released, or expired)."""
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(leases.c.owner, leases.c.expires_at).where(leases.c.key == key)
        ).first()
    return row is None or row.owner is None or row.expires_at <= clock()


def release(store: Store, key: str, owner: str) -> None:
    """Give the lease back (only if this owner still holds it)."""
    with store.write() as conn:
        conn.execute(
            sa.update(leases).where(leases.c.key == key, leases.c.owner == owner).values(owner=None)
        )
