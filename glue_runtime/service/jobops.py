"""What the jobs routes read and do beyond records: rerun (naming the service key that
asked), log lines, progress samples and per-record results as JSON-ready dicts, from the
jobs layer's own readers where it has them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from glue_runtime.jobs import records
from glue_runtime.jobs.joblog import read_logs, read_samples
from glue_runtime.jobs.model import Job, JobRequest
from glue_runtime.jobs.tables import job_results
from glue_runtime.workspace.store import Store


def rerun(store: Store, job: Job, *, started_ref: str, now: float | None = None) -> Job:
    """A new job with ``job``'s arguments (its flow, tenant, connector, streams, sync type)."""
    request = JobRequest(
        flow=job.flow,
        tenant=job.tenant,
        connector=job.connector,
        started_by="rerun",
        started_ref=started_ref,
        sync_type=job.sync_type,
        streams=tuple(job.streams) if job.streams is not None else None,
        start_date=job.start_date,
        rerun_of=job.id,
        attempt=job.attempt + 1,
    )
    new, _ = records.enqueue(store, request, now=now)
    return new


def log_lines(
    store: Store, job_id: str, *, after: int = 0, limit: int = 1000
) -> list[dict[str, Any]]:
    """The job's log lines after line id ``after`` (redacted when the job wrote them)."""
    return [line.as_dict() for line in read_logs(store, job_id, after=after, limit=limit)]


def samples(store: Store, job_id: str) -> list[dict[str, Any]]:
    """The job's progress samples, oldest first: when, and records per stream so far."""
    return [{"at": at, "counts": counts} for at, counts in read_samples(store, job_id)]


def results(
    store: Store,
    job_id: str,
    *,
    stream: str | None = None,
    success: bool | None = None,
    after: int = 0,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """The per-record results the job's targets reported (hotglue targets' record ids)."""
    query = sa.select(job_results).where(job_results.c.job_id == job_id, job_results.c.id > after)
    if stream is not None:
        query = query.where(job_results.c.stream == stream)
    if success is not None:
        query = query.where(job_results.c.success == success)
    with store.engine.connect() as conn:
        rows = conn.execute(query.order_by(job_results.c.id).limit(limit)).all()
    return [
        {
            "id": r.id,
            "stream": r.stream,
            "record_id": r.record_id,
            "external_id": r.external_id,
            "success": bool(r.success),
            "error": r.error,
            "hash": r.hash,
        }
        for r in rows
    ]
