"""The workspace routes: tenants, links (settings, OAuth, link tokens), flows, catalogs and
field map overrides. Each calls the workspace layer's own functions (tenancy, links, oauth,
overview), as the CLI does; the service adds only who may do what.

A tenant key sees its own tenant and links; anything of another tenant answers as unknown.
Creating and removing tenants and writing field maps need an admin key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from glue_runtime.errors import UsageError
from glue_runtime.service.auth import Admin, Ctx, Who
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.errors import ApiError
from glue_runtime.service.keys import Principal
from glue_runtime.service.scope import flow_of, visible_tenant
from glue_runtime.workspace import links as links_mod
from glue_runtime.workspace import overview, tenancy
from glue_runtime.workspace.store import Link, Tenant

router = APIRouter(prefix="/v1")

LINK = "/flows/{flow}/tenants/{tenant}/links/{connector}"


def tenant_dict(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "metadata": tenant.metadata,
        "created_at": tenant.created_at,
    }


class NewTenant(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"id": "acme", "name": "Acme Inc."}]}
    )

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
    name: str = Field("", max_length=500)
    metadata: dict[str, Any] = Field(default_factory=dict)


@router.post("/tenants", status_code=201, tags=["tenants"], summary="Add a tenant (admin)")
def add_tenant(body: NewTenant, _who: Admin, ctx: Ctx) -> dict[str, Any]:
    return tenant_dict(tenancy.add_tenant(ctx.opened, body.id, name=body.name, meta=body.metadata))


@router.get("/tenants", tags=["tenants"], summary="Tenants (a tenant key sees only its own)")
def list_tenants(who: Who, ctx: Ctx) -> dict[str, Any]:
    found = ctx.opened.store.tenants()
    return {"tenants": [tenant_dict(t) for t in found if who.may_see(t.id)]}


@router.get("/tenants/{tenant}", tags=["tenants"], summary="One tenant")
def get_tenant(tenant: str, who: Who, ctx: Ctx) -> dict[str, Any]:
    return tenant_dict(visible_tenant(ctx, who, tenant))


@router.delete(
    "/tenants/{tenant}",
    tags=["tenants"],
    summary="Remove a tenant and everything of theirs (admin); 409 while a job runs",
)
def remove_tenant(
    tenant: str,
    _who: Admin,
    ctx: Ctx,
    force: Annotated[bool, Query(description="remove even while a job holds its lease")] = False,
) -> dict[str, Any]:
    try:
        removal = tenancy.remove_tenant(ctx.opened, tenant, force=force, now=ctx.now)
    except UsageError as exc:
        raise ApiError(409, exc.message, code="conflict", hint=exc.hint) from None
    return {
        "tenant": removal.tenant,
        "removed": removal.removed,
        "revocations": [
            {"connector": r.link.connector, "revoked": r.ok} for r in removal.revocations
        ],
    }


# -- links -----------------------------------------------------------------------------------


def _link(ctx: ServiceContext, who: Principal, flow: str, tenant: str, connector: str) -> Link:
    visible_tenant(ctx, who, tenant)
    return ctx.opened.store.link(flow, tenant, connector)


@router.get("/tenants/{tenant}/links", tags=["links"], summary="A tenant's links (no secrets)")
def list_links(tenant: str, who: Who, ctx: Ctx) -> dict[str, Any]:
    visible_tenant(ctx, who, tenant)
    found = ctx.opened.store.links(tenant=tenant)
    return {"links": [links_mod.describe_link(ctx.opened, lk) for lk in found]}


class LinkSettings(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"settings": {"account": "acme-eu"}, "check": True}]},
    )

    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="The link's settings, secret ones included (stored encrypted, never echoed).",
    )
    check: bool = Field(True, description="Run the tap's discovery with them before saving.")


@router.post(
    LINK,
    status_code=201,
    tags=["links"],
    summary="Link with settings (API key style); secrets are stored encrypted, never echoed",
)
def link_with_settings(
    flow: str,
    tenant: str,
    connector: str,
    body: LinkSettings,
    who: Who,
    ctx: Ctx,
) -> dict[str, Any]:
    visible_tenant(ctx, who, tenant)
    link = links_mod.link_with_settings(
        ctx.opened, flow, tenant, connector, body.settings, check=body.check
    )
    return links_mod.describe_link(ctx.opened, link, detail=True)


@router.get(LINK, tags=["links"], summary="One link (secret names masked, never values)")
def get_link(
    flow: str,
    tenant: str,
    connector: str,
    who: Who,
    ctx: Ctx,
) -> dict[str, Any]:
    link = _link(ctx, who, flow, tenant, connector)
    return links_mod.describe_link(ctx.opened, link, detail=True)


@router.delete(
    LINK,
    tags=["links"],
    summary="Unlink: revoke OAuth tokens, delete the link with its state; 409 while a job runs",
)
def unlink(
    flow: str,
    tenant: str,
    connector: str,
    who: Who,
    ctx: Ctx,
    force: Annotated[bool, Query(description="unlink even while a job holds its lease")] = False,
) -> dict[str, Any]:
    _link(ctx, who, flow, tenant, connector)
    try:
        done = links_mod.unlink(ctx.opened, flow, tenant, connector, force=force, now=ctx.now)
    except UsageError as exc:
        raise ApiError(409, exc.message, code="conflict", hint=exc.hint) from None
    return {"unlinked": f"{flow}/{tenant}/{connector}", "revoked": done.revocation.ok}


# -- flows, catalogs, field maps ---------------------------------------------------------------


@router.get("/flows", tags=["flows"], summary="The workspace's flows with their connectors")
def list_flows(who: Who, ctx: Ctx) -> dict[str, Any]:
    flows = overview.flows_summary(ctx.opened)
    if not who.admin:  # how many tenants linked each connector is not a tenant's business
        for flow in flows:
            for sc in (*flow["sources"], *flow["targets"]):
                sc.pop("tenants_linked", None)
    return {"flows": flows}


@router.get("/flows/{flow}", tags=["flows"], summary="One flow (app secrets masked)")
def get_flow(flow: str, who: Who, ctx: Ctx) -> dict[str, Any]:
    flow_of(ctx, flow)
    detail = overview.flow_detail(ctx.opened, flow)
    detail["links"] = [lk for lk in detail["links"] if who.may_see(lk["tenant"])]
    return detail


@router.get(
    LINK + "/catalog", tags=["flows"], summary="The catalog discovered for the tenant's link"
)
def get_catalog(
    flow: str,
    tenant: str,
    connector: str,
    who: Who,
    ctx: Ctx,
) -> dict[str, Any]:
    _link(ctx, who, flow, tenant, connector)
    catalog = ctx.opened.store.catalog(flow, tenant, connector)
    if catalog is None:
        raise ApiError(
            404,
            f"no catalog for {flow}/{tenant}/{connector} yet",
            hint="one is discovered when the link is made with check, or by its first run",
        )
    return catalog


class FieldMapOverride(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"override": "streams:\n  orders:\n    fields: [id]\n"}]},
    )

    override: str = Field(min_length=1, description="The tenant's field map (YAML text).")


def _fieldmap(
    ctx: ServiceContext, who: Principal, flow: str, tenant: str, connector: str
) -> dict[str, Any]:
    from glue_runtime.workspace.runs import source_ids

    visible_tenant(ctx, who, tenant)
    source_ids(ctx.opened.workspace.flow(flow), connector)
    body = ctx.opened.store.fieldmap_override(flow, tenant, connector)
    flow_map = ctx.opened.workspace.flow(flow).field_map
    return {
        "override": body,
        "flow_field_map": flow_map.name if flow_map else None,
        "uses": "override" if body is not None else ("flow" if flow_map else "none"),
    }


@router.get(
    "/flows/{flow}/tenants/{tenant}/fieldmaps/{connector}",
    tags=["flows"],
    summary="The tenant's field map override of a source, if any",
)
def get_fieldmap(
    flow: str,
    tenant: str,
    connector: str,
    who: Who,
    ctx: Ctx,
) -> dict[str, Any]:
    return _fieldmap(ctx, who, flow, tenant, connector)


@router.put(
    "/flows/{flow}/tenants/{tenant}/fieldmaps/{connector}",
    tags=["flows"],
    summary="Set the tenant's field map override of a source (admin)",
)
def put_fieldmap(
    flow: str,
    tenant: str,
    connector: str,
    body: FieldMapOverride,
    who: Admin,
    ctx: Ctx,
) -> dict[str, Any]:
    from glue_runtime.workspace.tenantmap import parse_override

    _fieldmap(ctx, who, flow, tenant, connector)
    name = f"{flow}/{tenant}/{connector}"
    parse_override(body.override, source=f"the field map override of {name}")
    ctx.opened.store.save_fieldmap_override(flow, tenant, connector, body.override, who.name)
    ctx.opened.store.record("fieldmap-override-set", name, actor=f"key:{who.name}")
    return _fieldmap(ctx, who, flow, tenant, connector)


@router.delete(
    "/flows/{flow}/tenants/{tenant}/fieldmaps/{connector}",
    tags=["flows"],
    status_code=204,
    summary="Remove the tenant's field map override (admin): the flow's applies again",
)
def delete_fieldmap(
    flow: str,
    tenant: str,
    connector: str,
    who: Admin,
    ctx: Ctx,
) -> Response:
    import sqlalchemy as sa

    from glue_runtime.workspace.store import fieldmap_overrides as table

    found = _fieldmap(ctx, who, flow, tenant, connector)
    if found["override"] is None:
        raise ApiError(404, f"{flow}/{tenant}/{connector} has no field map override")
    with ctx.opened.store.write() as conn:
        conn.execute(
            sa.delete(table).where(
                table.c.flow == flow, table.c.tenant == tenant, table.c.connector == connector
            )
        )
    ctx.opened.store.record("fieldmap-override-unset", f"{flow}/{tenant}/{connector}")
    return Response(status_code=204)
