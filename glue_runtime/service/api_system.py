"""``GET /healthz`` and ``GET /metrics``: what a load balancer and Prometheus ask, without a key.

Neither answer names a tenant, a flow or a secret: /healthz says whether the store answers;
/metrics gives counts (jobs by status, queue depth, webhook outcomes, token refreshes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from glue_runtime.jobs.model import STATUSES
from glue_runtime.jobs.tables import jobs
from glue_runtime.service.auth import Ctx
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.metrics import REGISTRY
from glue_runtime.workspace.tables import audit
from glue_runtime.workspace.tokens import REFRESH_FAILED_ACTION, REFRESHED_ACTION

log = logging.getLogger("glue_runtime.service")
router = APIRouter(tags=["system"])

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
TOKEN_ACTIONS = {REFRESHED_ACTION: "ok", REFRESH_FAILED_ACTION: "failed"}


@router.get("/healthz", summary="Whether the server and its store answer (no key needed)")
def healthz(ctx: Ctx) -> JSONResponse:
    try:
        with ctx.opened.store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        log.warning("healthz: the store does not answer: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "store": "unreachable"}, 503)
    return JSONResponse({"status": "ok", "store": "ok"})


class StoreCollector(Collector):
    """Gauges read from the store at scrape time (every server of a workspace gives the same)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.ctx.opened.store.engine.connect() as conn:
            counted = conn.execute(
                sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)
            ).all()
            by_status = {status: n for status, n in counted}
            due = conn.execute(
                sa.select(sa.func.count()).where(
                    jobs.c.status == "queued", jobs.c.not_before <= self.ctx.now()
                )
            ).scalar_one()
            refreshed = conn.execute(
                sa.select(audit.c.action, sa.func.count())
                .where(audit.c.action.in_(list(TOKEN_ACTIONS)))
                .group_by(audit.c.action)
            ).all()
            refreshes = {action: n for action, n in refreshed}
        status = GaugeMetricFamily("glue_jobs", "Jobs in the store by status.", labels=["status"])
        for name in STATUSES:
            status.add_metric([name], by_status.get(name, 0))
        yield status
        yield GaugeMetricFamily(
            "glue_queue_depth", "Queued jobs whose time to start has come.", value=due
        )
        tokens = GaugeMetricFamily(
            "glue_token_refreshes",
            "OAuth token refreshes recorded in the store, by outcome.",
            labels=["outcome"],
        )
        for action, outcome in TOKEN_ACTIONS.items():
            tokens.add_metric([outcome], refreshes.get(action, 0))
        yield tokens


class _Both(Collector):
    """The process's counters and the store's gauges in one scrape."""

    def __init__(self, store_part: StoreCollector) -> None:
        self.store_part = store_part

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()
        yield from self.store_part.collect()


@router.get(
    "/metrics",
    summary="Prometheus metrics (no key needed; counts only)",
    response_class=Response,
    responses={200: {"content": {PROMETHEUS_TEXT: {}}}},
)
def metrics(ctx: Ctx) -> Response:
    text = generate_latest(_Both(StoreCollector(ctx)))
    return Response(text, media_type=PROMETHEUS_TEXT)
