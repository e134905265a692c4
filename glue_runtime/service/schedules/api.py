"""Schedule routes: a flow's schedules with each tenant's next run, and per-tenant overrides.

Reading takes any service key (a tenant key sees its own tenant only); writing an override
takes an admin key. Another tenant's schedule answers 404, worded as for one that does not
exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from glue_runtime.errors import ConfigError
from glue_runtime.service.auth import admin, context, principal
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.errors import ApiError
from glue_runtime.service.keys import Principal
from glue_runtime.service.schedules.model import Schedule, find_schedule, workspace_schedules
from glue_runtime.service.schedules.overrides import set_override
from glue_runtime.service.schedules.views import schedule_rows
from glue_runtime.service.scope import flow_of, visible_tenant

router = APIRouter(prefix="/v1", tags=["schedules"])
ONE = "/flows/{flow}/tenants/{tenant}/schedules/{schedule}"

Ctx = Annotated[ServiceContext, Depends(context)]
Who = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]


class OverrideBody(BaseModel):
    """A tenant's override of a schedule; what is left out stays as it was."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(None, description="Another cron expression (5 fields).")
    every: str | int | None = Field(None, description="Another interval: seconds or 15m, 1h, 1d.")
    timezone: str | None = Field(None, description="Another IANA timezone.")
    enabled: bool | None = Field(None, description="Turn the schedule on or off for the tenant.")


def _visible(ctx: ServiceContext, who: Principal, flow: str, tenant: str) -> None:
    """404 for an unknown flow, and for a tenant the key may not see or that does not exist."""
    flow_of(ctx, flow)
    visible_tenant(ctx, who, tenant)


def _row(ctx: ServiceContext, schedule: Schedule, tenant: str) -> dict[str, Any]:
    rows = schedule_rows(ctx.opened, ctx.now(), tenant=tenant, schedules=[schedule])
    if rows:
        return rows[0]
    return {
        "schedule": schedule.name,
        "flow": schedule.flow,
        "tenant": tenant,
        "enabled": False,
        "why_off": "the tenant has no linked source it applies to",
        "next_run": None,
        "override": None,
    }


@router.get(
    "/flows/{flow}/schedules",
    summary="A flow's schedules with each tenant's next run (a tenant key: its own)",
)
def list_schedules(flow: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    """The flow's schedules, each with the tenants it applies to and their next runs (a tenant
    key: its own tenant only)."""
    schedules = workspace_schedules(ctx.opened.workspace, flow)
    rows = schedule_rows(ctx.opened, ctx.now(), tenant=who.tenant, schedules=schedules)
    answer = []
    for schedule in schedules:
        item = schedule.as_dict()
        if not who.admin:
            item.pop("tenants")  # other tenants' ids are not a tenant key's to see
        item["per_tenant"] = [r for r in rows if r["schedule"] == schedule.name]
        answer.append(item)
    return {"schedules": answer}


@router.get(ONE, summary="One schedule as it applies to one tenant, with its next run")
def get_schedule(flow: str, tenant: str, schedule: str, ctx: Ctx, who: Who) -> dict[str, Any]:
    """One schedule as it applies to one tenant: timing, on or off, next run, override."""
    _visible(ctx, who, flow, tenant)
    return _row(ctx, find_schedule(ctx.opened.workspace, flow, schedule), tenant)


def _field_error(exc: ConfigError, body: OverrideBody) -> ApiError:
    """The 422 for a bad override, naming the field the message is about."""
    text = exc.message
    field = next(
        (n for n in ("timezone", "every", "cron") if f".{n}:" in text or f".{n} " in text),
        next((n for n in ("cron", "every", "timezone") if getattr(body, n) is not None), None),
    )
    return ApiError(422, text, field=field, hint=exc.hint or None)


@router.put(ONE, summary="Set a tenant's override of a schedule (admin)")
def put_override(
    flow: str, tenant: str, schedule: str, body: OverrideBody, ctx: Ctx, who: Admin
) -> dict[str, Any]:
    """Set the tenant's override (admin key): another cron or interval, timezone, on or off."""
    _visible(ctx, who, flow, tenant)
    found = find_schedule(ctx.opened.workspace, flow, schedule)
    if body.cron is not None and body.every is not None:
        raise ApiError(422, "give either cron or every, not both", field="every")
    try:
        set_override(
            ctx.opened.store,
            found,
            tenant,
            cron=body.cron,
            every=body.every,
            timezone=body.timezone,
            enabled=body.enabled,
            by=who.name,
            now=ctx.now(),
        )
    except ConfigError as exc:
        raise _field_error(exc, body) from None
    return _row(ctx, found, tenant)


@router.delete(ONE, summary="Clear a tenant's override of a schedule (admin)")
def delete_override(flow: str, tenant: str, schedule: str, ctx: Ctx, who: Admin) -> dict[str, Any]:
    """Clear the tenant's override (admin key): glue.yml's schedule applies again."""
    _visible(ctx, who, flow, tenant)
    found = find_schedule(ctx.opened.workspace, flow, schedule)
    set_override(ctx.opened.store, found, tenant, clear=True, by=who.name, now=ctx.now())
    return _row(ctx, found, tenant)
