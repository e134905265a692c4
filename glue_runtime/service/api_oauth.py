"""The OAuth routes of links: start (with a service key, or with a link token in the tenant's
browser), the provider's callback, and short-lived link tokens.

The redirect URI is always this server's ``/v1/oauth/callback`` under ``server.public_url``
(register that exact URL with the provider). The callback needs no service key: the
one-time ``state`` it carries is what proves it (workspace/oauth.py checks it). Neither the
code nor the state is ever logged or shown.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse

from glue_runtime.errors import CredentialError, GlueError
from glue_runtime.service.auth import Ctx, Who
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.errors import glue_status
from glue_runtime.service.scope import visible_tenant
from glue_runtime.service.settings import settings_of
from glue_runtime.workspace import oauth

router = APIRouter(prefix="/v1", tags=["links"])

CALLBACK = "/v1/oauth/callback"
LINK = "/flows/{flow}/tenants/{tenant}/links/{connector}"


def callback_url(ctx: ServiceContext) -> str:
    return settings_of(ctx).url(CALLBACK)


@router.post(
    LINK + "/oauth",
    summary="Start an OAuth link: the authorize URL to send the tenant's browser to",
)
def start_oauth(
    flow: str,
    tenant: str,
    connector: str,
    who: Who,
    ctx: Ctx,
) -> dict[str, Any]:
    visible_tenant(ctx, who, tenant)
    started = oauth.start_link(
        ctx.opened, flow, tenant, connector, redirect_uri=callback_url(ctx), now=ctx.now
    )
    return {
        "authorize_url": started.url,
        "expires_at": started.expires_at,
        "redirect_uri": started.redirect_uri,
    }


@router.post(
    LINK + "/link-token",
    summary="A short-lived link token: lets the tenant's browser start this one OAuth link",
)
def link_token(
    flow: str,
    tenant: str,
    connector: str,
    who: Who,
    ctx: Ctx,
) -> dict[str, Any]:
    visible_tenant(ctx, who, tenant)
    token = oauth.issue_link_token(ctx.opened, flow, tenant, connector, now=ctx.now)
    ttl = ctx.opened.workspace.settings.link_token_ttl_s
    return {
        "link_token": token,
        "expires_at": ctx.now() + ttl,
        "start_url": settings_of(ctx).url("/v1/oauth/start"),
    }


def _page(status: int, title: str, text: str) -> HTMLResponse:
    body = "<!doctype html><meta charset=utf-8><title>{t}</title><h1>{t}</h1><p>{x}</p>".format(
        t=html.escape(title), x=html.escape(text)
    )
    return HTMLResponse(body, status, headers={"Cache-Control": "no-store"})


def _refused(exc: GlueError) -> HTMLResponse:
    status, _ = glue_status(exc)
    return _page(status if status < 500 else 502, "Not linked", exc.message)


@router.get(
    "/oauth/start",
    summary="The tenant's browser, with a link token: redirected to the provider (no key)",
    response_class=RedirectResponse,
    responses={302: {"description": "To the provider's authorize URL."}},
)
def start_with_token(link_token: Annotated[str, Query(min_length=1)], ctx: Ctx) -> Any:
    try:
        flow, tenant, connector = oauth.redeem_link_token(ctx.opened, link_token, now=ctx.now)
        started = oauth.start_link(
            ctx.opened, flow, tenant, connector, redirect_uri=callback_url(ctx), now=ctx.now
        )
    except GlueError as exc:
        return _refused(exc)
    return RedirectResponse(started.url, 302, headers={"Cache-Control": "no-store"})


@router.get(
    CALLBACK.removeprefix("/v1"),
    summary="The provider's redirect back (no key: its one-time state proves it)",
    response_class=HTMLResponse,
)
def callback(
    ctx: Ctx,
    state: Annotated[str, Query()] = "",
    code: Annotated[str | None, Query()] = None,
    error: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    if not state:
        return _page(400, "Not linked", "the callback carries no state")
    try:
        link = oauth.finish_link(
            ctx.opened,
            state,
            code=code,
            error=error,
            redirect_uri=callback_url(ctx),
            now=ctx.now,
        )
    except (CredentialError, GlueError) as exc:
        return _refused(exc)
    return _page(200, "Linked", f"{link.connector} is linked. You can close this window.")
