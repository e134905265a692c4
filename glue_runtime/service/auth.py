"""The service-key check every /v1 route depends on (but the webhook hooks, the OAuth callback
and the console's sign-in): no valid key, 401 and nothing else."""

from __future__ import annotations

from fastapi import HTTPException, Request

from glue_runtime.service.context import ServiceContext
from glue_runtime.service.keys import Principal, verify_key


def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def principal(request: Request) -> Principal:
    """The request's service key (``Authorization: Bearer gk_...``); 401 without a valid one."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    found = None
    if scheme.lower() == "bearer" and key:
        found = verify_key(context(request).opened.store, key.strip())
    if found is None:
        raise HTTPException(401, "a valid service key is required", {"WWW-Authenticate": "Bearer"})
    return found


def admin(request: Request) -> Principal:
    """An admin key; 403 for a tenant-scoped one."""
    who = principal(request)
    if not who.admin:
        raise HTTPException(403, "this needs an admin service key")
    return who
