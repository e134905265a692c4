"""The service's ASGI app: every part's routes on one FastAPI app, over one ServiceContext.

Each part keeps its routes in its own module with a ``router`` (an ``APIRouter``); ROUTERS
lists them. Nothing here knows what the routes do.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from glue_runtime.service.context import ServiceContext

ROUTERS = (
    "glue_runtime.service.api_jobs",
    "glue_runtime.service.api_workspace",
    "glue_runtime.service.triggers.hooks",
    "glue_runtime.service.schedules.api",
    "glue_runtime.service.events_api",
)


def create_app(ctx: ServiceContext) -> FastAPI:
    """The app for one workspace (``glue serve`` runs it under uvicorn; tests may too)."""
    app = FastAPI(title="glue_runtime", version="1", docs_url="/docs", openapi_url="/openapi.json")
    app.state.ctx = ctx
    for name in ROUTERS:
        app.include_router(importlib.import_module(name).router)
    return app
