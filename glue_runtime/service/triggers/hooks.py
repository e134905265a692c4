"""``POST /v1/hooks/{id}`` and ``/v1/hooks/{id}/{tenant_token}``: where providers send the
webhooks that start jobs. No service key: the signature is the authentication.

The raw body is read with a limit (``server.max_body``; 413 past it, never buffering more),
then intake.py decides. Answers: 202 accepted (``{"job", "coalesced"}``) or ignored with a
reason, 200 for a duplicate and Slack's challenge, 400 malformed JSON, 401 bad signature,
404 unknown trigger (the very answer of a path that does not exist), 413 too large.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from glue_runtime.service import errors, metrics
from glue_runtime.service.auth import context
from glue_runtime.service.settings import settings_of
from glue_runtime.service.triggers.intake import Answer, Intake
from glue_runtime.service.triggers.verify import Delivery

router = APIRouter(tags=["triggers"])

_ERROR_CODES = {400: "malformed_json", 401: "bad_signature", 413: "too_large"}


class TooLarge(Exception):
    """The body is larger than the limit."""


def intake(request: Request) -> Intake:
    """This server's intake, made on the first webhook (it reads glue.yml's triggers)."""
    ctx = context(request)
    found = ctx.extra.get("triggers")
    if not isinstance(found, Intake):
        found = ctx.extra["triggers"] = Intake(ctx)
    return found


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; TooLarge as soon as it (or its declared length) passes ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _response(answer: Answer) -> Response:
    metrics.WEBHOOKS.labels(answer.outcome).inc()
    if answer.status == 404:
        raise HTTPException(404)  # the app's answer to a path that does not exist
    if answer.status in _ERROR_CODES:
        code = answer.body.get("code") or _ERROR_CODES[answer.status]
        error = errors.body(code, answer.body.get("message", ""))
        return JSONResponse(error, status_code=answer.status)
    return JSONResponse(answer.body, status_code=answer.status)


async def _hook(request: Request, endpoint: str, token: str | None) -> Response:
    hooks = intake(request)
    settings = settings_of(hooks.ctx)
    try:
        body = await read_body(request, settings.max_body)
    except TooLarge:
        message = f"the body is larger than server.max_body ({settings.max_body} bytes)"
        return _response(Answer(413, "too_large", {"message": message}))
    url = settings.url(request.url.path)  # HubSpot signs the URL it called
    if request.url.query:
        url += "?" + request.url.query
    delivery = Delivery(body, dict(request.headers), request.method, url)
    return _response(await run_in_threadpool(hooks.receive, endpoint, token, delivery))


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": 'A duplicate (`{"duplicate": true}`) or Slack\'s challenge echoed'},
    202: {
        "description": 'Queued (`{"job", "coalesced"}`), or ignored with a reason '
        '(`{"ignored", "message"}`: no tenant, no link, paused link, unmapped event)'
    },
    400: {"description": "The signed body is not JSON"},
    401: {"description": "The signature is missing, malformed, wrong or out of its window"},
    404: {"description": "No such trigger (or tenant URL token): the answer to any unknown path"},
    413: {"description": "The body is over server.max_body"},
}
_BODY = {
    "requestBody": {
        "required": True,
        "description": "The provider's raw JSON body, exactly as signed",
        "content": {"application/json": {"schema": {}}},
    }
}


@router.post(
    "/v1/hooks/{endpoint}",
    status_code=202,
    summary="Receive a webhook",
    responses=_RESPONSES,
    openapi_extra=_BODY,
)
async def hook(endpoint: str, request: Request) -> Response:
    """A signed webhook for a trigger whose tenant is in the signed body."""
    return await _hook(request, endpoint, None)


@router.post(
    "/v1/hooks/{endpoint}/{token}",
    status_code=202,
    summary="Receive a tenant's webhook",
    responses=_RESPONSES,
    openapi_extra=_BODY,
)
async def tenant_hook(endpoint: str, token: str, request: Request) -> Response:
    """A signed webhook on a tenant's own URL (its token names the tenant)."""
    return await _hook(request, endpoint, token)
