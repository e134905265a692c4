"""The service-key check every /v1 route depends on (but the webhook hooks, the OAuth callback
and the console's sign-in): no valid key, 401 and nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from glue_runtime.service.context import ServiceContext
from glue_runtime.service.keys import TOUCH_EVERY_S, Principal, touch_key, verify_key


def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


# Declares the scheme in the OpenAPI document; the check itself is principal()'s.
_BEARER = HTTPBearer(
    auto_error=False, scheme_name="serviceKey", description="A service key (`glue keys create`)."
)


def principal(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Principal:
    """The request's service key (``Authorization: Bearer gk_...``); 401 without a valid one."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    found = None
    if scheme.lower() == "bearer" and key:
        found = verify_key(context(request).opened.store, key.strip())
    if found is None:
        raise HTTPException(401, "a valid service key is required", {"WWW-Authenticate": "Bearer"})
    _touch(context(request), found)
    return found


def _touch(ctx: ServiceContext, who: Principal) -> None:
    """Note the key's use in the store, at most once a minute per key and process."""
    touched: dict[str, float] = ctx.extra.setdefault("keys_touched", {})
    now = ctx.now()
    if now - touched.get(who.key_id, float("-inf")) >= TOUCH_EVERY_S:
        touched[who.key_id] = now
        touch_key(ctx.opened.store, who.key_id, now)


def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """An admin key; 403 for a tenant-scoped one."""
    if not who.admin:
        raise HTTPException(403, "this needs an admin service key")
    return who


# The /v1 routes a request reaches without a service key (each proves itself otherwise):
# webhook hooks (the provider's signature), the OAuth callback (its one-time state) and the
# OAuth start of a tenant's browser (its link token). tests/service/test_auth.py checks that
# every other /v1 route answers 401 without a valid key.
PUBLIC_PREFIXES = ("/v1/hooks/", "/v1/oauth/callback", "/v1/oauth/start")


# Route parameters: ``who: Who``, ``who: Admin``, ``ctx: Ctx``.
Who = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
Ctx = Annotated[ServiceContext, Depends(context)]
