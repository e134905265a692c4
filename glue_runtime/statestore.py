"""The state store interface every store implements, and the lease a job holds on its key.

A job reads its state key, runs, and commits confirmed STATE as it goes. Two jobs on one key
must never both write: each job holds a **lease** on the key (an owner, a fencing token, an
expiry it renews from a heartbeat). Every commit carries the lease, and the store refuses it
(:class:`~glue_runtime.errors.LeaseLost`) unless that lease is still the key's current one, so
a job that lost its lease (it stopped renewing, another owner took the key over) can never
write, on one machine or many. docs/architecture.md ("State stores and leases") states the
rules a store must keep; ``tests/test_statestore.py`` checks them for every store.

This module holds what does not depend on where state lives: the :class:`StateStore`
protocol, the :class:`Lease` value, and :class:`LeaseKeeper`, which holds a lease for a job
(acquire, heartbeat, release). The file store is in ``glue_runtime.state``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from glue_runtime.errors import LeaseLost, StateError

log = logging.getLogger("glue_runtime.state")

DEFAULT_LEASE_TTL_S = 60.0


@dataclass(frozen=True)
class Lease:
    """One owner's hold on one state key, as the store granted or last renewed it.

    ``token`` is the fencing token: each grant on a key gets a higher one than every earlier
    grant on that key, so the store can tell a current holder from one that was taken over.
    ``expires_at`` is in the store's clock (seconds since the epoch for the file store).
    """

    key: str
    owner: str
    token: int
    expires_at: float
    ttl_s: float


@runtime_checkable
class StateStore(Protocol):
    """Where jobs keep their state, one JSON object per state key, and lease the keys.

    ``get``/``keys``/``set``/``clear``/``location`` are what `glue state` uses; ``set`` and
    ``clear`` are not fenced (the CLI holds a lease around them). A job writes only through
    ``commit``, with its lease.
    """

    lease_ttl_s: float
    """How long a lease lasts without a renewal (a job renews it every third of that)."""

    def get(self, key: str) -> dict[str, Any]:
        """The state under ``key`` (``{}`` when there is none); StateError if unreadable."""
        ...

    def keys(self) -> list[str]:
        """Every key that has state, sorted."""
        ...

    def set(self, key: str, value: dict[str, Any]) -> None:
        """Replace the state under ``key`` whole (atomically)."""
        ...

    def clear(self, key: str) -> bool:
        """Remove the state under ``key``; False if there was none."""
        ...

    def location(self, key: str) -> str:
        """Where ``key``'s state lives, for people (a path, a table and row)."""
        ...

    def commit(
        self,
        key: str,
        update: dict[str, Any],
        lease: Lease,
        *,
        drop_streams: Collection[str] = (),
    ) -> dict[str, Any]:
        """Merge ``update`` into the stored state and return what is stored now.

        The stored state first loses the bookmarks of ``drop_streams`` (a full refresh of
        them), then ``merge_state`` applies ``update`` (per-stream bookmarks, other keys
        replaced). Atomic, and only while ``lease`` is the key's current lease: otherwise
        LeaseLost and nothing changes. A lease past its expiry that nobody took over still
        commits (no one else can have written).
        """
        ...

    def acquire(self, key: str, owner: str, ttl_s: float) -> Lease:
        """Grant ``owner`` the lease on ``key`` for ``ttl_s`` seconds, with a new token.

        StateLocked while another owner's lease is live; a lease past its expiry (or whose
        holder is known dead) is taken over, with a token higher than the one it had.
        """
        ...

    def renew(self, lease: Lease) -> Lease:
        """Extend ``lease`` by its ttl from now; LeaseLost if it was taken over or released."""
        ...

    def release(self, lease: Lease) -> None:
        """Give the key up (a no-op for a lease that was already lost)."""
        ...


def default_owner() -> str:
    """An owner name unique to this holder: host, pid and a random part (one process may hold
    several leases, one per job)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# The keepers holding a lease in this process, by (store, key): a job run with
# ``hold_lock=False`` commits under the lease its caller holds (a batch job's phases).
_held: dict[tuple[int, str], LeaseKeeper] = {}
_held_lock = threading.Lock()


def held_lease(store: StateStore, key: str) -> LeaseKeeper | None:
    """The keeper holding ``key`` of this very store object in this process, if any."""
    with _held_lock:
        return _held.get((id(store), key))


class LeaseKeeper:
    """Holds a lease for one job: acquires it, renews it from a heartbeat thread, releases it.

    The heartbeat renews every ``heartbeat_s`` (a third of the ttl by default). When the store
    says the lease was lost, or renewals keep failing until the lease has expired, the keeper
    is *lost*: :meth:`check` raises the LeaseLost from then on and the listeners (``on_lost``)
    hear of it once, from the heartbeat thread. Nothing is reported after :meth:`release`.
    """

    def __init__(
        self,
        store: StateStore,
        key: str,
        *,
        owner: str | None = None,
        ttl_s: float | None = None,
        heartbeat_s: float | None = None,
        on_lost: Callable[[LeaseLost], None] | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.owner = owner or default_owner()
        self.ttl_s = float(ttl_s if ttl_s is not None else store.lease_ttl_s)
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else self.ttl_s / 3
        self.lost: LeaseLost | None = None
        self._listeners: list[Callable[[LeaseLost], None]] = [on_lost] if on_lost else []
        self._lease: Lease | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewed_at = 0.0  # time.monotonic() of the last grant or renewal

    @property
    def lease(self) -> Lease:
        if self._lease is None:
            raise StateError(f"no lease is held on state key {self.key!r}")
        return self._lease

    def acquire(self) -> Lease:
        lease = self.store.acquire(self.key, self.owner, self.ttl_s)
        with _held_lock:
            _held[(id(self.store), self.key)] = self
        self._lease = lease
        self._renewed_at = time.monotonic()
        self._thread = threading.Thread(
            target=self._heartbeat, name=f"lease-{self.key}", daemon=True
        )
        self._thread.start()
        return lease

    def check(self) -> Lease:
        """The current lease; the LeaseLost once it is lost."""
        if self.lost is not None:
            raise self.lost
        return self.lease

    def add_listener(self, on_lost: Callable[[LeaseLost], None]) -> None:
        with self._lock:
            self._listeners.append(on_lost)

    def remove_listener(self, on_lost: Callable[[LeaseLost], None]) -> None:
        with self._lock:
            if on_lost in self._listeners:
                self._listeners.remove(on_lost)

    def mark_lost(self, error: LeaseLost, *, notify: bool = True) -> None:
        """Record that the lease is gone and tell the listeners (unless the one who found out,
        a refused commit, raises it to its caller itself)."""
        with self._lock:
            if self.lost is not None or self._stop.is_set():
                return
            self.lost = error
            listeners = list(self._listeners) if notify else []
        self._stop.set()
        for listener in listeners:
            listener(error)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            lease = self._lease
            if lease is None:  # released meanwhile
                return
            try:
                renewed = self.store.renew(lease)
            except LeaseLost as exc:
                self.mark_lost(exc)
                return
            except Exception as exc:  # the store is unreachable, say: try again next beat
                self._renewal_failed(lease, exc)
                continue
            with self._lock:
                if self._stop.is_set():
                    return
                self._lease = renewed
                self._renewed_at = time.monotonic()

    def _renewal_failed(self, lease: Lease, exc: Exception) -> None:
        """A renewal that failed without an answer: once the lease has run out, it is lost."""
        if time.monotonic() - self._renewed_at < lease.ttl_s:
            log.warning("could not renew the lease on state key %r (will retry): %s", self.key, exc)
            return
        self.mark_lost(
            LeaseLost(
                f"the lease on state key {self.key!r} could not be renewed for "
                f"{lease.ttl_s:g} s (last error: {exc}); another run may hold it now",
                hint="check that the state store is reachable; the next run resumes from the "
                "last committed state",
            )
        )

    def release(self) -> None:
        """Stop the heartbeat and give the key up (errors are logged: the job's outcome stands)."""
        with self._lock:
            self._stop.set()
            self._listeners.clear()
        with _held_lock:
            if _held.get((id(self.store), self.key)) is self:
                del _held[(id(self.store), self.key)]
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            self.store.release(lease)
        except StateError as exc:
            log.warning("could not release the lease on state key %r: %s", self.key, exc)

    def __enter__(self) -> LeaseKeeper:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
