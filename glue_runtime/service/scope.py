"""What a caller may reach: tenants by key scope, flows by glue.yml, a tenant's linked sources.

A tenant-scoped key asking for another tenant gets the answer an unknown tenant gets, so it
learns nothing about which tenants exist.
"""

from __future__ import annotations

from glue_runtime.service.context import ServiceContext
from glue_runtime.service.errors import ApiError
from glue_runtime.service.keys import Principal
from glue_runtime.workspace.model import WorkspaceFlow
from glue_runtime.workspace.names import unknown
from glue_runtime.workspace.store import Tenant


def visible_tenant(ctx: ServiceContext, who: Principal, tenant: str) -> Tenant:
    """The tenant when ``who`` may see it; 404 "unknown tenant" otherwise."""
    if not who.may_see(tenant):
        raise ApiError(404, f"unknown tenant '{tenant}'")
    if who.admin:
        return ctx.opened.store.tenant(tenant)  # its 404 names close matches, for admins
    try:
        return ctx.opened.store.tenant(tenant)
    except Exception:
        raise ApiError(404, f"unknown tenant '{tenant}'") from None


def flow_of(ctx: ServiceContext, flow: str) -> WorkspaceFlow:
    """The flow of glue.yml; 404 naming the flows there otherwise."""
    flows = ctx.opened.workspace.flows
    if flow not in flows:
        raise unknown("flow", flow, flows, where="glue.yml")
    return flows[flow]


def linked_sources(ctx: ServiceContext, flow: str, tenant: str) -> list[str]:
    """The connectors the tenant linked as sources in ``flow``; 404 when there are none."""
    found = [
        link.connector
        for link in ctx.opened.store.links(tenant=tenant, flow=flow)
        if link.direction == "read"
    ]
    if not found:
        raise ApiError(
            404,
            f"tenant '{tenant}' has no linked source in flow '{flow}'",
            hint=f"link one first: POST /v1/flows/{flow}/tenants/{tenant}/links",
        )
    return found
