"""glue.yml's ``webhooks:``: the endpoints that receive job and link events, and their
signing secrets (from glue.yml, usually ``${ENV}``, else generated and stored encrypted).

    webhooks:
      backend:
        url: https://api.example.com/glue-events
        events: [job.succeeded, job.failed]   # default: every event type
        tenants: [acme]                        # default: every tenant
        secret: ${BACKEND_WEBHOOK_SECRET}      # else `glue events secret new backend`
        timeout: 10s
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from glue_runtime.errors import ConfigError
from glue_runtime.service.events_tables import webhook_secrets
from glue_runtime.timeouts import parse_duration
from glue_runtime.workspace.model import Workspace
from glue_runtime.workspace.names import unknown
from glue_runtime.workspace.outbox import EVENT_TYPES
from glue_runtime.workspace.store import Store

DEFAULT_TIMEOUT_S = 10.0
SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class Endpoint:
    """One receiver of events. ``secret`` is glue.yml's (never printed); None: the stored one."""

    name: str
    url: str
    events: tuple[str, ...] = EVENT_TYPES
    tenants: tuple[str, ...] | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    secret: str | None = field(default=None, repr=False)

    def wants(self, type_: str, tenant: str | None) -> bool:
        """Whether this endpoint receives an event of ``type_`` about ``tenant``."""
        if type_ not in self.events:
            return False
        return self.tenants is None or (tenant is not None and tenant in self.tenants)


def _endpoint(name: str, body: dict[str, Any]) -> Endpoint:
    where = f"glue.yml webhooks.{name}"
    events = tuple(body.get("events") or EVENT_TYPES)
    for type_ in events:
        if type_ not in EVENT_TYPES:
            raise ConfigError(
                f"{where}.events: unknown event type '{type_}'",
                hint=f"one of: {', '.join(EVENT_TYPES)}",
            )
    tenants = body.get("tenants")
    timeout = parse_duration(body.get("timeout", DEFAULT_TIMEOUT_S), where=f"{where}.timeout")
    secret = body.get("secret")
    return Endpoint(
        name=name,
        url=str(body["url"]),
        events=events,
        tenants=tuple(str(t) for t in tenants) if tenants is not None else None,
        timeout_s=timeout or DEFAULT_TIMEOUT_S,
        secret=str(secret) if secret else None,
    )


def endpoints(workspace: Workspace) -> dict[str, Endpoint]:
    """The workspace's endpoints by name (glue.yml's schema has checked the shape)."""
    return {str(n): _endpoint(str(n), body or {}) for n, body in workspace.webhooks.items()}


def endpoint(workspace: Workspace, name: str) -> Endpoint:
    """One endpoint; a named error listing the others when there is none of that name."""
    found = endpoints(workspace)
    if name not in found:
        raise unknown("webhook endpoint", name, list(found), where="glue.yml webhooks", hint=None)
    return found[name]


def _row(name: str) -> str:
    return f"webhook:{name}:secret"


def _stored(store: Store, name: str) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(webhook_secrets).where(webhook_secrets.c.endpoint == name)
        ).first()


def _open(store: Store, name: str, sealed: str) -> str:
    return str(store.unseal(sealed, _row(name))["secret"])


def signing_secrets(store: Store, ep: Endpoint, now: float) -> list[str]:
    """The secrets ``ep``'s events are signed with (one ``v1=`` each): glue.yml's, else the
    stored one and, while a rotation overlaps, the one it replaced; empty when there is none."""
    if ep.secret:
        return [ep.secret]
    row = _stored(store, ep.name)
    if row is None:
        return []
    found = [_open(store, ep.name, row.secret)]
    if row.previous and row.previous_until is not None and row.previous_until > now:
        found.append(_open(store, ep.name, row.previous))
    return found


def new_secret(
    store: Store, ep: Endpoint, *, keep_old_s: float = 0.0, now: float | None = None
) -> str:
    """Generate and store (encrypted) a new signing secret for ``ep``; it is returned once.
    ``keep_old_s`` > 0: the one it replaces keeps signing beside it for that long.

    Refused when glue.yml gives the endpoint its secret: that one would win, unseen."""
    if ep.secret:
        raise ConfigError(
            f"webhook endpoint '{ep.name}' takes its secret from glue.yml",
            hint=f"remove webhooks.{ep.name}.secret from glue.yml to use a generated one",
        )
    value = SECRET_PREFIX + secrets.token_urlsafe(32)
    sealed = store.seal({"secret": value}, _row(ep.name))
    at = time.time() if now is None else now
    old = _stored(store, ep.name)
    keep = old is not None and keep_old_s > 0
    with store.write() as conn:
        conn.execute(sa.delete(webhook_secrets).where(webhook_secrets.c.endpoint == ep.name))
        conn.execute(
            sa.insert(webhook_secrets).values(
                endpoint=ep.name,
                secret=sealed,
                created_at=at,
                previous=old.secret if keep else None,
                previous_until=at + keep_old_s if keep else None,
            )
        )
    return value
