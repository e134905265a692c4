"""The jobs routes: start jobs for a tenant's flow, read them, cancel, rerun, read their logs.

A tenant-scoped key reaches only its tenant's jobs; another tenant's job answers exactly as
a job that does not exist (404), so ids cannot be probed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from glue_runtime.jobs import records
from glue_runtime.jobs.model import STATUSES, Job, JobRequest
from glue_runtime.service import idempotency, jobops
from glue_runtime.service.auth import Ctx, Who
from glue_runtime.service.context import ServiceContext
from glue_runtime.service.errors import ApiError
from glue_runtime.service.keys import Principal
from glue_runtime.service.metrics import JOBS_STARTED
from glue_runtime.service.scope import flow_of, linked_sources, visible_tenant

router = APIRouter(prefix="/v1", tags=["jobs"])

NAME = r"^[A-Za-z0-9._-]{1,200}$"


class StartJobs(BaseModel):
    """What to run: every linked source of the tenant in the flow, or one ``connector``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"connector": "files", "sync_type": "incremental"}]},
    )

    connector: str | None = Field(
        None, pattern=NAME, description="One linked source (default: every one of the tenant)."
    )
    streams: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, min_length=1, description="Sync only these streams (default: every selected one)."
    )
    sync_type: Literal["incremental", "full", "reset"] = Field(
        "incremental",
        description="incremental (from bookmarks), full (ignore the chosen streams' "
        "bookmarks), reset (clear the chosen streams' state first).",
    )
    start_date: str | None = Field(
        None, description="ISO 8601 start date for this job only (never saved)."
    )

    @field_validator("start_date")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                dt.datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("must be an ISO 8601 date or date-time, e.g. 2024-01-31") from None
        return value


class JobList(BaseModel):
    jobs: list[dict[str, Any]]
    next: str | None = Field(None, description="Pass as `before` for the next page.")


def _notify(ctx: ServiceContext) -> None:
    executor = ctx.extra.get("executor")
    notify = getattr(executor, "notify", None)
    if callable(notify):
        notify()


def _enqueue_all(
    ctx: ServiceContext, who: Principal, flow: str, tenant: str, body: StartJobs
) -> list[Job]:
    connectors = [body.connector] if body.connector else linked_sources(ctx, flow, tenant)
    started = []
    for connector in connectors:
        request = JobRequest(
            flow=flow,
            tenant=tenant,
            connector=connector,
            started_by="api",
            started_ref=who.name,
            sync_type=body.sync_type,
            streams=tuple(body.streams) if body.streams is not None else None,
            start_date=body.start_date,
        )
        job, new = records.enqueue(ctx.opened.store, request, now=ctx.now())
        if new:
            JOBS_STARTED.labels("api").inc()
        started.append(job)
    return started


@router.post(
    "/flows/{flow}/tenants/{tenant}/jobs",
    status_code=202,
    summary="Start jobs: one per linked source of the tenant in the flow, or one connector's",
    responses={202: {"description": "Queued (or folded into the job already queued)."}},
)
def start_jobs(
    flow: str,
    tenant: str,
    who: Who,
    ctx: Ctx,
    body: StartJobs | None = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="The same key from the same service key within 24 h: the first "
            "answer's jobs, nothing started again (another body with it: 422).",
        ),
    ] = None,
) -> JSONResponse:
    body = body or StartJobs()  # type: ignore[call-arg]
    store = ctx.opened.store
    visible_tenant(ctx, who, tenant)
    flow_of(ctx, flow)
    key = idempotency.check_key(idempotency_key) if idempotency_key is not None else None
    asked = {"flow": flow, "tenant": tenant, **body.model_dump()}
    req_hash = idempotency.request_hash(asked)
    if key is not None:
        ids = idempotency.recall(store, who.key_id, key, req_hash, ctx.now())
        if ids is not None:
            return JSONResponse({"jobs": [records.get(store, i).as_dict() for i in ids]}, 202)
    started = _enqueue_all(ctx, who, flow, tenant, body)
    ids = [job.id for job in started]
    if key is not None:
        first = idempotency.remember(store, who.key_id, key, req_hash, ids, ctx.now())
        if first != ids:
            started = [records.get(store, i) for i in first]
    _notify(ctx)
    return JSONResponse({"jobs": [job.as_dict() for job in started]}, 202)


def _since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            422,
            "query.since: must be seconds since the epoch or an ISO 8601 date-time",
            field="query.since",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _statuses(value: str | None) -> list[str] | None:
    if value is None:
        return None
    wanted = [s.strip() for s in value.split(",") if s.strip()]
    wrong = [s for s in wanted if s not in STATUSES]
    if wrong or not wanted:
        raise ApiError(
            422,
            f"query.status: unknown status {', '.join(wrong) or repr(value)}",
            field="query.status",
            hint=f"one or more (comma-separated) of: {', '.join(STATUSES)}",
        )
    return wanted


@router.get("/jobs", summary="Jobs, newest first (a tenant key sees only its tenant's)")
def list_jobs(
    who: Who,
    ctx: Ctx,
    flow: str | None = None,
    tenant: str | None = None,
    connector: str | None = None,
    status: Annotated[str | None, Query(description="e.g. running,queued")] = None,
    since: Annotated[str | None, Query(description="epoch seconds or ISO 8601")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[str | None, Query(description="a job id: the page after it")] = None,
) -> JobList:
    if who.tenant is not None:
        if tenant is not None and tenant != who.tenant:
            return JobList(jobs=[], next=None)
        tenant = who.tenant
    found = records.list_jobs(
        ctx.opened.store,
        flow=flow,
        tenant=tenant,
        connector=connector,
        status=_statuses(status),
        since=_since(since),
        limit=limit,
        before=before,
    )
    last = found[-1].id if len(found) == limit else None
    return JobList(jobs=[job.as_dict() for job in found], next=last)


def _job(ctx: ServiceContext, who: Principal, job_id: str) -> Job:
    """The job, when the caller may see it; 404 (the same answer) otherwise."""
    return records.get(ctx.opened.store, job_id, tenant=who.tenant)


@router.get("/jobs/{job_id}", summary="One job: status, times, counts, error, state")
def get_job(job_id: str, who: Who, ctx: Ctx) -> dict[str, Any]:
    return _job(ctx, who, job_id).as_dict()


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=202,
    summary="Cancel a job: a queued one at once; a running one drains like Ctrl-C",
)
def cancel_job(job_id: str, who: Who, ctx: Ctx) -> dict[str, Any]:
    job = _job(ctx, who, job_id)
    try:
        return jobops.cancel(ctx.opened.store, job, now=ctx.now()).as_dict()
    except jobops.JobEnded as exc:
        raise ApiError(409, exc.message, code="job_ended", hint=exc.hint) from None


@router.post(
    "/jobs/{job_id}/rerun",
    status_code=202,
    summary="Queue a new job with this job's arguments",
)
def rerun_job(job_id: str, who: Who, ctx: Ctx) -> dict[str, Any]:
    job = _job(ctx, who, job_id)
    if not job.ended:
        raise ApiError(
            409,
            f"job '{job.id}' is still {job.status}: only an ended job is rerun",
            code="job_active",
            hint="cancel it first, or wait for it to end",
        )
    new = jobops.rerun(ctx.opened.store, job, started_ref=who.name, now=ctx.now())
    JOBS_STARTED.labels("rerun").inc()
    _notify(ctx)
    return new.as_dict()


@router.get(
    "/jobs/{job_id}/logs",
    summary="A job's log lines (redacted), after line id `after`; `follow` streams them",
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def job_logs(
    job_id: str,
    who: Who,
    ctx: Ctx,
    after: Annotated[int, Query(ge=0, description="the last line id already read")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    follow: Annotated[
        bool,
        Query(description="stream lines as JSON lines (NDJSON) until the job has ended"),
    ] = False,
) -> Any:
    job = _job(ctx, who, job_id)
    if follow:
        return StreamingResponse(_follow(ctx, job.id, after), media_type="application/x-ndjson")
    lines = jobops.log_lines(ctx.opened.store, job.id, after=after, limit=limit)
    return {"job": job.id, "status": job.status, "lines": lines}


FOLLOW_POLL_S = 0.5


def _follow(ctx: ServiceContext, job_id: str, after: int) -> Iterator[bytes]:
    """The job's lines as they are written, one JSON object a line; ends with the job (after
    its last lines). Polls the store: the job runs in another process, maybe another host."""
    store = ctx.opened.store
    while True:
        ended = records.get(store, job_id).ended  # read before the lines: none are missed
        lines = jobops.log_lines(store, job_id, after=after)
        for line in lines:
            after = line["id"]
            yield json.dumps(line).encode() + b"\n"
        if ended and not lines:
            return
        if not lines:
            time.sleep(FOLLOW_POLL_S)
