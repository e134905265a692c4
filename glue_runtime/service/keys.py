"""Service keys: what a client of `glue serve` shows to be let in (kept apart from tenants'
API-key credentials). ``glue keys create [--tenant T]``.

A key is ``gk_<id>_<secret>``; the store keeps the id and the SHA-256 of the whole key (a key
has 192 random bits, so a fast hash is safe), never the key. A key with a tenant sees and
starts only that tenant's jobs and links; one without is an admin key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from glue_runtime.errors import ConfigError
from glue_runtime.service.tables import service_keys
from glue_runtime.workspace.store import Store

PREFIX = "gk_"


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a service key, admin or scoped to one tenant."""

    key_id: str
    name: str
    tenant: str | None  # None: admin

    @property
    def admin(self) -> bool:
        return self.tenant is None

    def may_see(self, tenant: str) -> bool:
        return self.tenant is None or self.tenant == tenant


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(store: Store, name: str, tenant: str | None = None) -> tuple[Principal, str]:
    """A new service key: its principal, and the key itself (shown once, never stored)."""
    if tenant is not None:
        store.tenant(tenant)  # a named error for an unknown tenant
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
    with store.write() as conn:
        conn.execute(
            sa.insert(service_keys).values(
                id=key_id, name=name, tenant=tenant, secret_hash=_hash(key), created_at=time.time()
            )
        )
    return Principal(key_id, name, tenant), key


def verify_key(store: Store, key: str) -> Principal | None:
    """The principal of ``key``; None for a malformed, unknown or revoked key."""
    if not key.startswith(PREFIX) or key.count("_") < 2:
        return None
    key_id = key[len(PREFIX) :].split("_", 1)[0]
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(service_keys).where(service_keys.c.id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _hash(key)):
        return None
    return Principal(row.id, row.name, row.tenant)


@dataclass(frozen=True)
class KeyInfo:
    """A service key as listed: never its secret (the store has only its hash)."""

    id: str
    name: str
    tenant: str | None
    created_at: float
    revoked_at: float | None
    last_used_at: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "tenant": self.tenant,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }


def list_keys(store: Store, *, revoked: bool = False) -> list[KeyInfo]:
    """The service keys, oldest first (revoked ones only when asked)."""
    query = sa.select(service_keys).order_by(service_keys.c.created_at, service_keys.c.id)
    if not revoked:
        query = query.where(service_keys.c.revoked_at.is_(None))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        KeyInfo(r.id, r.name, r.tenant, r.created_at, r.revoked_at, r.last_used_at) for r in rows
    ]


def revoke_key(store: Store, key_id: str, *, now: float | None = None) -> KeyInfo:
    """Revoke the key ``key_id`` (its next request gets 401); ConfigError for an unknown id."""
    at = time.time() if now is None else now
    with store.write() as conn:
        row = conn.execute(sa.select(service_keys).where(service_keys.c.id == key_id)).first()
        if row is None:
            raise ConfigError(
                f"no service key '{key_id}'", hint="`glue keys list` shows the keys' ids"
            )
        if row.revoked_at is None:
            conn.execute(
                sa.update(service_keys).where(service_keys.c.id == key_id).values(revoked_at=at)
            )
    return KeyInfo(row.id, row.name, row.tenant, row.created_at, row.revoked_at or at, None)


TOUCH_EVERY_S = 60.0


def touch_key(store: Store, key_id: str, now: float) -> None:
    """Record that the key was used (``glue keys list`` shows it, to see which keys a
    rotation can revoke). Callers touch at most every TOUCH_EVERY_S per key."""
    with store.write() as conn:
        conn.execute(
            sa.update(service_keys).where(service_keys.c.id == key_id).values(last_used_at=now)
        )
