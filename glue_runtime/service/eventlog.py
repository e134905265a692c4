"""Outbound events as users see them: the outbox's events with their deliveries and attempts
(`glue events list|show`, GET /v1/events), and replay (a new delivery of the same event id).

Fanning out, claiming and sending are glue_runtime/service/delivery.py.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import sqlalchemy as sa

from glue_runtime.errors import ConfigError
from glue_runtime.protocol import dumps_exact, loads_exact
from glue_runtime.service.events_tables import event_attempts, event_deliveries
from glue_runtime.service.webhooks import Endpoint
from glue_runtime.workspace.outbox import outbox
from glue_runtime.workspace.store import Store

STATUSES = ("pending", "failed", "delivered", "dead")


class UnknownEvent(ConfigError):
    """No event of that id (or not one the caller may see)."""


def new_delivery_id() -> str:
    return "dlv_" + secrets.token_urlsafe(12)


def payload(row: Any) -> bytes:
    """The body POSTed for an outbox row: the same bytes on every attempt and replay."""
    return dumps_exact(
        {
            "id": row.id,
            "type": row.type,
            "created_at": row.created_at,
            "tenant": row.tenant,
            "data": loads_exact(row.data),
        }
    )


def _delivery(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "endpoint": r.endpoint,
        "status": r.status,
        "attempts": r.attempts,
        "next_attempt_at": r.next_attempt_at,
        "last_code": r.last_code,
        "last_error": r.last_error,
        "replay_of": r.replay_of,
        "created_at": r.created_at,
        "delivered_at": r.delivered_at,
    }


def _check_filters(type_: str | None, status: str | None) -> None:
    from glue_runtime.workspace.outbox import EVENT_TYPES

    if type_ is not None and type_ not in EVENT_TYPES:
        raise ConfigError(f"unknown event type '{type_}'", hint=f"one of: {', '.join(EVENT_TYPES)}")
    if status is not None and status not in STATUSES:
        raise ConfigError(
            f"unknown delivery status '{status}'", hint=f"one of: {', '.join(STATUSES)}"
        )


def list_events(
    store: Store,
    *,
    type_: str | None = None,
    status: str | None = None,
    endpoint: str | None = None,
    tenant: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The newest events first, each with its deliveries; ``status``/``endpoint`` keep the
    events that have a delivery so."""
    _check_filters(type_, status)
    q = sa.select(outbox).order_by(outbox.c.created_at.desc(), outbox.c.id).limit(limit)
    if type_ is not None:
        q = q.where(outbox.c.type == type_)
    if tenant is not None:
        q = q.where(outbox.c.tenant == tenant)
    if status is not None or endpoint is not None:
        sub = sa.select(event_deliveries.c.event_id)
        if status is not None:
            sub = sub.where(event_deliveries.c.status == status)
        if endpoint is not None:
            sub = sub.where(event_deliveries.c.endpoint == endpoint)
        q = q.where(outbox.c.id.in_(sub))
    with store.engine.connect() as conn:
        events = conn.execute(q).all()
        ids = [e.id for e in events]
        by_event: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            for d in conn.execute(
                sa.select(event_deliveries)
                .where(event_deliveries.c.event_id.in_(ids))
                .order_by(event_deliveries.c.created_at)
            ):
                by_event[d.event_id].append(_delivery(d))
    return [
        {
            "id": e.id,
            "type": e.type,
            "tenant": e.tenant,
            "created_at": e.created_at,
            "deliveries": by_event[e.id],
        }
        for e in events
    ]


def _event_row(conn: sa.Connection, event_id: str, tenant: str | None) -> Any:
    q = sa.select(outbox).where(outbox.c.id == event_id)
    if tenant is not None:
        q = q.where(outbox.c.tenant == tenant)
    row = conn.execute(q).first()
    if row is None:
        raise UnknownEvent(
            f"no event '{event_id}'", hint="`glue events list` shows the recent events"
        )
    return row


def show_event(store: Store, event_id: str, *, tenant: str | None = None) -> dict[str, Any]:
    """One event: its payload, and each delivery with every attempt."""
    with store.engine.connect() as conn:
        row = _event_row(conn, event_id, tenant)
        deliveries = [
            _delivery(d)
            for d in conn.execute(
                sa.select(event_deliveries)
                .where(event_deliveries.c.event_id == event_id)
                .order_by(event_deliveries.c.created_at)
            )
        ]
        for d in deliveries:
            d["attempt_log"] = [
                {
                    "attempt": a.attempt,
                    "at": a.at,
                    "code": a.code,
                    "error": a.error,
                    "duration_ms": a.duration_ms,
                }
                for a in conn.execute(
                    sa.select(event_attempts)
                    .where(event_attempts.c.delivery_id == d["id"])
                    .order_by(event_attempts.c.attempt)
                )
            ]
    return {
        "id": row.id,
        "type": row.type,
        "tenant": row.tenant,
        "created_at": row.created_at,
        "data": loads_exact(row.data),
        "deliveries": deliveries,
    }


def replay(
    store: Store,
    event_id: str,
    endpoints: dict[str, Endpoint],
    *,
    only: str | None = None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Queue a new delivery of event ``event_id`` (the same id and body) to endpoint ``only``,
    else to every endpoint that receives its type and tenant; the new deliveries."""
    at = time.time() if now is None else now
    with store.engine.connect() as conn:
        row = _event_row(conn, event_id, None)
    if only is not None:
        if only not in endpoints:
            from glue_runtime.workspace.names import unknown

            raise unknown("webhook endpoint", only, list(endpoints), where="glue.yml webhooks")
        targets = [only]
    else:
        targets = [n for n, ep in endpoints.items() if ep.wants(row.type, row.tenant)]
        if not targets:
            raise ConfigError(
                f"no webhook endpoint in glue.yml receives {row.type} events"
                + (f" of tenant '{row.tenant}'" if row.tenant else ""),
                hint="name one with --endpoint, or add it to the endpoint's events:",
            )
    made = []
    with store.write() as conn:
        for name in targets:
            last = conn.execute(
                sa.select(event_deliveries.c.id)
                .where(event_deliveries.c.event_id == event_id, event_deliveries.c.endpoint == name)
                .order_by(event_deliveries.c.created_at.desc())
                .limit(1)
            ).scalar()
            values = {
                "id": new_delivery_id(),
                "event_id": event_id,
                "endpoint": name,
                "tenant": row.tenant,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": at,
                "replay_of": last,
                "created_at": at,
                "updated_at": at,
            }
            conn.execute(sa.insert(event_deliveries).values(**values))
            made.append(values)
    return made


def purge_events(store: Store, older_than: float, *, now: float | None = None) -> dict[str, int]:
    """Delete events older than ``older_than`` seconds that were fanned out and whose
    deliveries have all ended (delivered or dead), with their deliveries and attempts; the
    rows removed per table. An event not sent yet, or still being retried, is kept."""
    from glue_runtime.service.events_tables import event_fanouts

    cutoff = (time.time() if now is None else now) - older_than
    live = sa.select(event_deliveries.c.event_id).where(
        event_deliveries.c.status.in_(("pending", "failed"))
    )
    removed = {t.name: 0 for t in (event_attempts, event_deliveries, event_fanouts, outbox)}
    with store.write() as conn:
        ids = list(
            conn.execute(
                sa.select(outbox.c.id).where(
                    outbox.c.created_at < cutoff,
                    outbox.c.id.in_(sa.select(event_fanouts.c.event_id)),  # fanned out
                    outbox.c.id.not_in(live),
                )
            ).scalars()
        )
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            theirs = sa.select(event_deliveries.c.id).where(event_deliveries.c.event_id.in_(chunk))
            for table, where in (
                (event_attempts, event_attempts.c.delivery_id.in_(theirs)),
                (event_deliveries, event_deliveries.c.event_id.in_(chunk)),
                (event_fanouts, event_fanouts.c.event_id.in_(chunk)),
                (outbox, outbox.c.id.in_(chunk)),
            ):
                removed[table.name] += conn.execute(sa.delete(table).where(where)).rowcount
    return removed
