"""Tenants: adding one, and removing one with everything of theirs the store holds.

A tenant id appears in state keys (``flow/TENANT/connector``) and in paths, so it is checked
here before anything is stored. Removing a tenant revokes each OAuth link's tokens at the
provider (when the connector names a revocation URL) before the rows go: the provider is
called with no transaction open, then one short write transaction deletes the rest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from glue_runtime.errors import UsageError
from glue_runtime.workspace.links import Revocation, revoke_link
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.rows import held_leases
from glue_runtime.workspace.store import Tenant

TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def check_tenant_id(tenant_id: str) -> str:
    """``tenant_id`` if it is a valid id; UsageError saying what a valid one looks like."""
    if not TENANT_ID.fullmatch(tenant_id):
        raise UsageError(
            f"'{tenant_id[:60]}' is not a valid tenant id",
            hint="a tenant id starts with a letter or digit and holds up to 200 letters, "
            "digits, '.', '_' or '-' (it becomes part of state keys and folder names)",
        )
    return tenant_id


def add_tenant(
    opened: Opened, tenant_id: str, *, name: str = "", meta: dict[str, Any] | None = None
) -> Tenant:
    """Add a tenant (StoreError if the id is taken)."""
    return opened.store.add_tenant(check_tenant_id(tenant_id), name, meta or {})


@dataclass
class TenantRemoval:
    """What removing a tenant did: rows deleted per table, and each OAuth link's revocation."""

    tenant: str
    removed: dict[str, int]
    revocations: list[Revocation] = field(default_factory=list)


def _refuse_while_running(opened: Opened, tenant: str, now: float) -> None:
    """UsageError while a job holds a lease on the tenant's state: deleting its rows under it
    would cut its state commits off mid-run."""
    held = held_leases(opened.store, tenant, None, now)
    if held:
        raise UsageError(
            f"tenant '{tenant}' has a job running: its lease on {', '.join(held)} is held",
            hint="wait for the job to end (or stop it); --force removes the tenant anyway",
        )


def remove_tenant(
    opened: Opened,
    tenant_id: str,
    *,
    revoke: bool = True,
    force: bool = False,
    now: Callable[[], float] = time.time,
) -> TenantRemoval:
    """Remove the tenant and everything of theirs: revoke OAuth links (where the connector
    names a revocation URL), then delete links, credentials, catalogs, field map overrides,
    OAuth states, link tokens, state and leases, and the tenant. The revocations that failed
    are reported, not fatal: the tokens are deleted either way. Refused while a job of the
    tenant holds its lease, unless ``force``."""
    tenant = opened.store.tenant(tenant_id)  # a named error with close matches
    if not force:
        _refuse_while_running(opened, tenant.id, now())
    links = opened.store.links(tenant=tenant.id)
    revocations = [revoke_link(opened, link) for link in links] if revoke else []
    removed = opened.store.remove_tenant(tenant.id)  # one transaction; audited
    return TenantRemoval(tenant.id, removed, [r for r in revocations if r.attempted])
