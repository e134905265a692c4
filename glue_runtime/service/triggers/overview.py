"""What ``glue triggers list|show`` tells about a trigger: its URL, settings, secret status
(never a secret) and its recent deliveries."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from glue_runtime.service.settings import parse_server
from glue_runtime.service.triggers import records
from glue_runtime.service.triggers.settings import Trigger
from glue_runtime.service.triggers.tables import trigger_deliveries, trigger_tenant_tokens
from glue_runtime.workspace.open import Opened


def hook_url(opened: Opened, trigger: Trigger, token: str | None = None) -> str:
    """The URL to give the provider (a tenant's own, with ``token``)."""
    server = parse_server(opened.workspace.server)
    base = server.url(f"/v1/hooks/{records.endpoint_id(opened.store, trigger)}")
    if token is not None:
        return f"{base}/{token}"
    return base + ("/{tenant_token}" if trigger.tenant_from_url else "")


def deliveries(opened: Opened, trigger: Trigger, limit: int = 10) -> list[dict[str, Any]]:
    """The trigger's latest deliveries (those of the last 24 h: older ones are purged)."""
    endpoint = records.endpoint_id(opened.store, trigger)
    with opened.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(trigger_deliveries)
            .where(trigger_deliveries.c.endpoint == endpoint)
            .order_by(trigger_deliveries.c.received_at.desc())
            .limit(limit)
        ).all()
    return [
        {"received_at": r.received_at, "tenant": r.tenant, "outcome": r.outcome, "job": r.job_id}
        for r in rows
    ]


def _tenants_with_urls(opened: Opened, trigger: Trigger) -> list[str]:
    with opened.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(trigger_tenant_tokens.c.tenant)
            .where(
                trigger_tenant_tokens.c.flow == trigger.flow,
                trigger_tenant_tokens.c.trigger == trigger.name,
            )
            .distinct()
            .order_by(trigger_tenant_tokens.c.tenant)
        ).all()
    return [r.tenant for r in rows]


def describe(opened: Opened, trigger: Trigger, *, full: bool = False) -> dict[str, Any]:
    """The trigger as ``glue triggers list`` (and, with ``full``, ``show``) gives it."""
    status = records.secret_status(opened.store, trigger)
    last = deliveries(opened, trigger, limit=10 if full else 1)
    found: dict[str, Any] = {
        "trigger": trigger.key,
        "connector": trigger.connector,
        "scheme": trigger.scheme,
        "url": hook_url(opened, trigger),
        "tenant_from": "url" if trigger.tenant_from_url else "body",
        "secret_set": status.current_set_at is not None,
        "last_delivery": last[0] if last else None,
    }
    if full:
        found.update(
            tenant_path=".".join(trigger.tenant_path) if trigger.tenant_path else None,
            event_id_path=".".join(trigger.event_id_path) if trigger.event_id_path else None,
            debounce_s=trigger.debounce_s,
            sync_type=trigger.sync_type,
            secret={
                "kind": trigger.secret,
                "set_at": status.current_set_at,
                "origin": status.origin,
                "previous_valid_until": status.previous_expires_at,
            },
            tenants_with_urls=_tenants_with_urls(opened, trigger),
            deliveries=last,
        )
    return found
