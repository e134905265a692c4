"""State and leases in the workspace store (SQLite or PostgreSQL), for workspace runs.

:class:`DbStateStore` implements :class:`~glue_runtime.statestore.StateStore` on the store's
``states`` and ``leases`` tables. A lease is a row (owner, fencing token, expiry); every
operation is one short transaction that checks the row and writes in the same step, so the
lease holds across processes and machines. There is no flock: a dead holder's key frees when
its lease expires (docs/architecture.md, "What a store-backed implementation must guarantee").

Expiry uses the database's clock on PostgreSQL (``clock_timestamp()``), so workers on several
machines agree on it whatever their own clocks say; SQLite is a local file, whose clock is this
machine's. Tests may pass ``clock`` to control time.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from glue_runtime.errors import LeaseLost, StateError, StateLocked
from glue_runtime.protocol import dumps_exact, loads_exact
from glue_runtime.state import drop_bookmarks, merge_state
from glue_runtime.statestore import DEFAULT_LEASE_TTL_S, Lease, LeaseKeeper
from glue_runtime.workspace.store import Store, leases, states

MAX_KEY_LENGTH = 600  # the key columns' width
_HOST = socket.gethostname()
_PG_NOW = sa.text("SELECT extract(epoch FROM clock_timestamp())")


def workspace_state_key(flow: str, tenant: str, connector: str) -> str:
    """The state key of one linked connector's bookmarks: two tenants never share one."""
    return f"{flow}/{tenant}/{connector}"


def link_refresh_key(link_id: str) -> str:
    """The lease key that makes concurrent jobs of one link refresh its token once."""
    return f"link-refresh/{link_id}"


class DbStateStore:
    """Workspace state in the store: one row per key in ``states``, its lease in ``leases``."""

    def __init__(
        self,
        store: Store,
        *,
        lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.lease_ttl_s = lease_ttl_s
        self._clock = clock

    # -- plain reads and writes (`glue state`) ---------------------------------------------

    def get(self, key: str) -> dict[str, Any]:
        _check_key(key)
        with self._errors("read"), self.store.engine.connect() as conn:
            return _stored(conn, key)

    def keys(self) -> list[str]:
        with self._errors("read"), self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(states.c.key).order_by(states.c.key)).scalars())

    def set(self, key: str, value: dict[str, Any]) -> None:
        _check_key(key)
        if not isinstance(value, dict):
            raise StateError(f"state for {key!r} must be a JSON object, got {type(value).__name__}")
        with self._errors("write"), self.store.write() as conn:
            _write_state(conn, key, value, self._now(conn))

    def clear(self, key: str) -> bool:
        _check_key(key)
        with self._errors("write"), self.store.write() as conn:
            return conn.execute(sa.delete(states).where(states.c.key == key)).rowcount > 0

    def location(self, key: str) -> str:
        return f"{self.store.where()} (table states, key {key!r})"

    def lock(self, key: str) -> LeaseKeeper:
        """A lease on ``key`` held with a heartbeat, as a context manager (`glue state set`)."""
        return LeaseKeeper(self, key)

    # -- leases (the contract is in glue_runtime.statestore) -------------------------------

    def acquire(self, key: str, owner: str, ttl_s: float) -> Lease:
        _check_key(key)
        with self._errors("lock"), self.store.write() as conn:
            now = self._now(conn)
            _insert_missing(conn, key)
            taken = conn.execute(
                sa.update(leases)
                .where(
                    leases.c.key == key,
                    sa.or_(leases.c.owner.is_(None), leases.c.expires_at < now),
                )
                .values(
                    owner=owner,
                    token=leases.c.token + 1,
                    expires_at=now + ttl_s,
                    host=_HOST,
                    pid=os.getpid(),
                )
            )
            row = conn.execute(sa.select(leases).where(leases.c.key == key)).one()
        if taken.rowcount != 1:
            raise StateLocked(
                f"another run holds the lock on state key {key!r} (pid {row.pid} on "
                f"{row.host}, owner {row.owner}, its lease runs for {row.expires_at - now:.0f} s "
                f"more unless renewed; in {self.location(key)})",
                hint="wait for that run to finish; two runs on one key would overwrite each "
                "other's bookmarks. A run that died frees the key when its lease expires",
            )
        return Lease(key, owner, int(row.token), float(row.expires_at), ttl_s)

    def renew(self, lease: Lease) -> Lease:
        with self._errors("renew the lease on"), self.store.write() as conn:
            now = self._now(conn)
            done = conn.execute(
                sa.update(leases)
                .where(*_is_current(lease))
                .values(expires_at=now + lease.ttl_s, host=_HOST, pid=os.getpid())
            )
            if done.rowcount != 1:
                _lost(conn, lease)
        return Lease(lease.key, lease.owner, lease.token, now + lease.ttl_s, lease.ttl_s)

    def release(self, lease: Lease) -> None:
        with self._errors("release the lease on"), self.store.write() as conn:
            conn.execute(sa.update(leases).where(*_is_current(lease)).values(owner=None))

    def commit(
        self,
        key: str,
        update: dict[str, Any],
        lease: Lease,
        *,
        drop_streams: Collection[str] = (),
    ) -> dict[str, Any]:
        _check_key(key)
        if lease.key != key:
            raise StateError(f"a lease on {lease.key!r} cannot commit state key {key!r}")
        with self._errors("write"), self.store.write() as conn:
            # Lock the lease row for this transaction (SQLite: BEGIN IMMEDIATE already has the
            # whole database), so no takeover can slip in between the check and the write.
            held = conn.execute(
                sa.select(leases.c.key).where(*_is_current(lease)).with_for_update()
            ).first()
            if held is None:
                _lost(conn, lease)
            stored = _stored(conn, key)
            if drop_streams:
                stored = drop_bookmarks(stored, set(drop_streams))
            merged = merge_state(stored, update)
            _write_state(conn, key, merged, self._now(conn))
        return merged

    # -- helpers ---------------------------------------------------------------------------

    def _now(self, conn: Connection) -> float:
        """Seconds since the epoch by the clock every holder of a key agrees on."""
        if self._clock is not None:
            return self._clock()
        if conn.dialect.name == "postgresql":
            return float(conn.execute(_PG_NOW).scalar_one())
        return time.time()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """A database that fails (unreachable, locked past its timeout) is a StateError."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise StateError(
                f"cannot {doing} state in the store at {self.store.where()}: {exc.orig}",
                hint="check that the store's database is reachable; the stored state is what "
                "the last successful commit wrote",
            ) from None


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise StateError(
            f"invalid state key {key[:80]!r}: it must have 1 to {MAX_KEY_LENGTH} characters"
        )


def _is_current(lease: Lease) -> list[sa.ColumnElement[bool]]:
    return [
        leases.c.key == lease.key,
        leases.c.token == lease.token,
        leases.c.owner == lease.owner,
    ]


def _insert_missing(conn: Connection, key: str) -> None:
    """The key's lease row, if it has none yet (token 0, free): concurrent inserts are fine."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(leases)
        .values(key=key, owner=None, token=0, expires_at=0.0)
        .on_conflict_do_nothing(index_elements=[leases.c.key])
    )


def _stored(conn: Connection, key: str) -> dict[str, Any]:
    text = conn.execute(sa.select(states.c.value).where(states.c.key == key)).scalar()
    if text is None:
        return {}
    value = loads_exact(text)
    if not isinstance(value, dict):
        raise StateError(
            f"the state under {key!r} in the store is not a JSON object",
            hint="set a known-good state with `glue state set`, or `glue state clear` it",
        )
    return value


def _write_state(conn: Connection, key: str, value: dict[str, Any], now: float) -> None:
    text = dumps_exact(value).decode()
    done = conn.execute(
        sa.update(states).where(states.c.key == key).values(value=text, updated_at=now)
    )
    if done.rowcount == 0:
        conn.execute(sa.insert(states).values(key=key, value=text, updated_at=now))


def _lost(conn: Connection, lease: Lease) -> None:
    """Raise LeaseLost saying why ``lease`` is no longer the key's current one."""
    row = conn.execute(sa.select(leases).where(leases.c.key == lease.key)).first()
    if row is None:
        why = "its lease row is gone"
    elif row.token != lease.token or (row.owner is not None and row.owner != lease.owner):
        why = (
            f"{row.owner or 'another run'} (pid {row.pid} on {row.host}) took the key over "
            f"with fencing token {row.token} (this run had {lease.token})"
        )
    else:
        why = "the lease was released"
    raise LeaseLost(
        f"this run lost its lease on state key {lease.key!r}: {why}; it commits nothing more",
        hint=f"a run's lease expires when it is not renewed for {lease.ttl_s:g} s (a paused "
        "process, a machine asleep) and another run may then take the key; the state holds "
        "what the new holder committed, and the next run resumes from it",
    )
