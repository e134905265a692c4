"""The service's ASGI app: every part's routes on one FastAPI app, over one ServiceContext.

Each part keeps its routes in its own module with a ``router`` (an ``APIRouter``); ROUTERS
lists them. Nothing here knows what the routes do. The app's lifespan starts the background
parts it is given (``glue serve`` gives the executor, scheduler and deliverer; tests often
none) and stops them, with the grace period, when the server shuts down.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from glue_runtime.service import errors
from glue_runtime.service.background import Part, start_parts, stop_parts
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.limits import BodyLimit
from glue_runtime.service.settings import settings_of

ROUTERS = (
    "glue_runtime.service.api_system",
    "glue_runtime.service.api_jobs",
    "glue_runtime.service.api_workspace",
    "glue_runtime.service.api_oauth",
    "glue_runtime.service.triggers.hooks",
    "glue_runtime.service.schedules.api",
    "glue_runtime.service.events_api",
)

DESCRIPTION = """The HTTP API of a glue_runtime workspace: jobs, tenants, links, flows, triggers,
schedules and events. Every `/v1` route needs a service key (`Authorization: Bearer gk_...`,
made with `glue keys create`) except the webhook hooks and the OAuth callback. Errors are
`{"error": {"code", "message", "field"?, "hint"?}}`."""


def create_app(
    ctx: ServiceContext, *, parts: Sequence[tuple[str, Part]] = (), grace_s: float = 30.0
) -> FastAPI:
    """The app for one workspace (``glue serve`` runs it under uvicorn; tests may too)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        started = list(parts)
        await run_in_threadpool(start_parts, ctx, started)
        try:
            yield
        finally:
            await run_in_threadpool(stop_parts, ctx, started, grace_s)

    app = FastAPI(
        title="glue_runtime",
        version="1",
        description=DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    errors.install(app)
    app.add_middleware(BodyLimit, limit=lambda: settings_of(ctx).max_body)
    for name in ROUTERS:
        app.include_router(importlib.import_module(name).router)
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = errors.document_errors(plain_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
