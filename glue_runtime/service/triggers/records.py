"""What the store keeps of triggers: their public ids, their secrets (encrypted; two while one
rotates) and the per-tenant URL tokens (hashed)."""

from __future__ import annotations

import hashlib
import secrets as random
import time
from dataclasses import dataclass

import sqlalchemy as sa

from glue_runtime.errors import ConfigError
from glue_runtime.service.triggers.settings import Trigger
from glue_runtime.service.triggers.tables import (
    trigger_endpoints,
    trigger_secrets,
    trigger_tenant_tokens,
)
from glue_runtime.workspace.store import Store

CURRENT, PREVIOUS = "current", "previous"
DEFAULT_KEEP_OLD_S = 24 * 3600.0


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _row(flow: str, name: str, slot: str) -> str:
    """The row identity a secret is sealed with: a sealed value copied to another row fails."""
    return f"trigger_secret:{flow}/{name}:{slot}"


# -- public ids ------------------------------------------------------------------------------


def endpoint_id(store: Store, trigger: Trigger) -> str:
    """The trigger's id in ``/v1/hooks/{id}``: made once (random, 128 bits), then kept."""
    found = _find_endpoint(store, trigger)
    if found is not None:
        return found
    try:
        with store.write() as conn:
            conn.execute(
                sa.insert(trigger_endpoints).values(
                    id="trg_" + random.token_urlsafe(16),
                    flow=trigger.flow,
                    trigger=trigger.name,
                    created_at=time.time(),
                )
            )
    except sa.exc.IntegrityError:
        pass  # another process made it first: use theirs
    found = _find_endpoint(store, trigger)
    assert found is not None
    return found


def _find_endpoint(store: Store, trigger: Trigger) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(trigger_endpoints.c.id).where(
                trigger_endpoints.c.flow == trigger.flow,
                trigger_endpoints.c.trigger == trigger.name,
            )
        ).scalar()


def endpoint(store: Store, endpoint_id: str) -> tuple[str, str] | None:
    """The (flow, trigger) of public id ``endpoint_id``; None for an unknown id."""
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(trigger_endpoints.c.flow, trigger_endpoints.c.trigger).where(
                trigger_endpoints.c.id == endpoint_id
            )
        ).first()
    return None if row is None else (row.flow, row.trigger)


# -- secrets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretStatus:
    """What may be shown of a trigger's secrets: when and how they were set, never a value."""

    current_set_at: float | None
    origin: str | None  # set | generated
    previous_expires_at: float | None  # a rotation's old secret still verifies until then


def new_secret() -> str:
    """A generated signing secret: 256 random bits, hex (every provider's form accepts it)."""
    return random.token_hex(32)


def put_secret(
    store: Store,
    trigger: Trigger,
    secret: str,
    *,
    origin: str,
    keep_old_s: float = 0.0,
    now: float | None = None,
) -> None:
    """Make ``secret`` the trigger's current one. ``keep_old_s`` > 0 keeps the one it replaces
    verifying that long (a rotation: the provider may still sign with it); else it goes."""
    if not secret.strip():
        raise ConfigError(f"trigger {trigger.key}: the secret is empty", hint="paste the secret")
    now = time.time() if now is None else now
    key = (trigger_secrets.c.flow == trigger.flow, trigger_secrets.c.trigger == trigger.name)
    with store.write() as conn:
        old = conn.execute(
            sa.select(trigger_secrets).where(*key, trigger_secrets.c.slot == CURRENT)
        ).first()
        conn.execute(sa.delete(trigger_secrets).where(*key))
        rows: list[tuple[str, str, str, float | None]] = [(CURRENT, secret.strip(), origin, None)]
        if old is not None and keep_old_s > 0:
            value = store.unseal(old.secret, _row(trigger.flow, trigger.name, CURRENT))["secret"]
            rows.append((PREVIOUS, str(value), str(old.origin), now + keep_old_s))
        for slot, value, how, expires in rows:
            conn.execute(
                sa.insert(trigger_secrets).values(
                    flow=trigger.flow,
                    trigger=trigger.name,
                    slot=slot,
                    secret=store.seal({"secret": value}, _row(trigger.flow, trigger.name, slot)),
                    origin=how,
                    created_at=now,
                    expires_at=expires,
                )
            )


def secrets_of(store: Store, trigger: Trigger, now: float) -> list[str]:
    """The secrets that verify the trigger's webhooks now: the current one, and the previous
    one while its rotation window lasts."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(trigger_secrets).where(
                trigger_secrets.c.flow == trigger.flow,
                trigger_secrets.c.trigger == trigger.name,
            )
        ).all()
    found = []
    for r in sorted(rows, key=lambda r: r.slot != CURRENT):
        if r.expires_at is None or r.expires_at > now:
            found.append(store.unseal(r.secret, _row(trigger.flow, trigger.name, r.slot))["secret"])
    return [str(s) for s in found]


def secret_status(store: Store, trigger: Trigger) -> SecretStatus:
    with store.engine.connect() as conn:
        rows = {
            r.slot: r
            for r in conn.execute(
                sa.select(trigger_secrets).where(
                    trigger_secrets.c.flow == trigger.flow,
                    trigger_secrets.c.trigger == trigger.name,
                )
            ).all()
        }
    current, previous = rows.get(CURRENT), rows.get(PREVIOUS)
    return SecretStatus(
        current.created_at if current else None,
        current.origin if current else None,
        previous.expires_at if previous else None,
    )


# -- per-tenant URL tokens -------------------------------------------------------------------


def new_tenant_token(store: Store, trigger: Trigger, tenant: str) -> str:
    """A new URL secret for ``tenant`` (``/v1/hooks/{id}/{token}``): returned once, stored
    hashed. Earlier tokens of the tenant for this trigger keep working until revoked."""
    store.tenant(tenant)  # a named error for an unknown tenant
    token = random.token_urlsafe(24)
    with store.write() as conn:
        conn.execute(
            sa.insert(trigger_tenant_tokens).values(
                token_hash=_hash(token),
                flow=trigger.flow,
                trigger=trigger.name,
                tenant=tenant,
                created_at=time.time(),
            )
        )
    return token


def revoke_tenant_tokens(store: Store, trigger: Trigger, tenant: str) -> int:
    """Revoke every URL token of ``tenant`` for the trigger; how many there were."""
    with store.write() as conn:
        done = conn.execute(
            sa.delete(trigger_tenant_tokens).where(
                trigger_tenant_tokens.c.flow == trigger.flow,
                trigger_tenant_tokens.c.trigger == trigger.name,
                trigger_tenant_tokens.c.tenant == tenant,
            )
        )
    return int(done.rowcount or 0)


def tenant_of_token(store: Store, trigger: Trigger, token: str) -> str | None:
    """The tenant whose URL token ``token`` is for this trigger; None for any other token."""
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(trigger_tenant_tokens.c.tenant).where(
                trigger_tenant_tokens.c.token_hash == _hash(token),
                trigger_tenant_tokens.c.flow == trigger.flow,
                trigger_tenant_tokens.c.trigger == trigger.name,
            )
        ).scalar()
