"""Routes of outbound events (admin keys) and of pausing links (a tenant key may pause and
resume its own tenant's links):

- ``GET /v1/events``: the newest events with their deliveries (filters: type, status,
  endpoint, tenant, limit); ``GET /v1/events/{id}``: one, with every attempt;
- ``POST /v1/events/{id}/replay``: a new delivery of the same event (``?endpoint=``);
- ``POST /v1/flows/{flow}/tenants/{tenant}/links/{connector}/pause|resume``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from glue_runtime.errors import ConfigError
from glue_runtime.service.auth import admin, context, principal
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.errors import ApiError, not_found
from glue_runtime.service.eventlog import UnknownEvent, list_events, replay, show_event
from glue_runtime.service.keys import Principal
from glue_runtime.service.webhooks import endpoints
from glue_runtime.workspace.linkpause import LinkHealth, pause_link, resume_link

router = APIRouter(prefix="/v1", tags=["events"])

Admin = Annotated[Principal, Depends(admin)]
Anyone = Annotated[Principal, Depends(principal)]
Ctx = Annotated[ServiceContext, Depends(context)]


class PauseBody(BaseModel):
    reason: str = Field("", max_length=500, description="Why the link is paused.")


def _bad(exc: ConfigError, status: int = 400, field: str | None = None) -> ApiError:
    return ApiError(status, exc.message, field=field, hint=exc.hint)


@router.get("/events", summary="List outbound events and their deliveries")
def get_events(
    ctx: Ctx,
    who: Admin,
    type: str | None = None,
    status: str | None = None,
    endpoint: str | None = None,
    tenant: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    try:
        rows = list_events(
            ctx.opened.store,
            type_=type,
            status=status,
            endpoint=endpoint,
            tenant=tenant,
            limit=limit,
        )
    except ConfigError as exc:
        raise _bad(exc, 400, "type" if "event type" in exc.message else "status") from None
    return {"events": rows}


@router.get("/events/{event_id}", summary="One event, its deliveries and their attempts")
def get_event(event_id: str, ctx: Ctx, who: Admin) -> dict[str, Any]:
    try:
        return show_event(ctx.opened.store, event_id)
    except UnknownEvent as exc:
        raise _bad(exc, 404) from None


@router.post("/events/{event_id}/replay", status_code=202, summary="Send an event again")
def post_replay(event_id: str, ctx: Ctx, who: Admin, endpoint: str | None = None) -> dict[str, Any]:
    eps = endpoints(ctx.opened.workspace)
    try:
        made = replay(ctx.opened.store, event_id, eps, only=endpoint, now=ctx.now())
    except UnknownEvent as exc:
        raise _bad(exc, 404) from None
    except ConfigError as exc:
        raise _bad(exc, 400, "endpoint") from None
    return {"deliveries": [{"id": d["id"], "endpoint": d["endpoint"]} for d in made]}


def _link_action(
    ctx: ServiceContext, who: Principal, flow: str, tenant: str, connector: str
) -> None:
    """404 alike for a link that does not exist and one of another tenant."""
    if not who.may_see(tenant) or ctx.opened.store.find_link(flow, tenant, connector) is None:
        raise not_found("link", f"{flow}/{tenant}/{connector}")


@router.post(
    "/flows/{flow}/tenants/{tenant}/links/{connector}/pause",
    summary="Pause a link: it starts no job until resumed",
)
def post_pause(
    flow: str,
    tenant: str,
    connector: str,
    ctx: Ctx,
    who: Anyone,
    body: Annotated[PauseBody | None, Body()] = None,
) -> dict[str, Any]:
    _link_action(ctx, who, flow, tenant, connector)
    reason = (body.reason if body else "") or f"paused through the API by key '{who.name}'"
    health: LinkHealth = pause_link(
        ctx.opened.store, flow, tenant, connector, reason, now=ctx.now()
    )
    return health.as_dict()


@router.post(
    "/flows/{flow}/tenants/{tenant}/links/{connector}/resume",
    summary="Resume a paused link (clears its count of failed jobs)",
)
def post_resume(flow: str, tenant: str, connector: str, ctx: Ctx, who: Anyone) -> dict[str, Any]:
    _link_action(ctx, who, flow, tenant, connector)
    return resume_link(ctx.opened.store, flow, tenant, connector, now=ctx.now()).as_dict()
