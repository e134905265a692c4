"""Cancel, rerun and log reading as the jobs API needs them.

Minimal versions on the records directly, until the jobs layer's own land, with the same
rules: a queued job is cancelled at once, a running one is asked to stop (its process
polls ``cancel_requested`` and drains like Ctrl-C), an ended one cannot be cancelled.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from glue_runtime.errors import ConfigError
from glue_runtime.jobs import records
from glue_runtime.jobs.model import Job, JobRequest
from glue_runtime.jobs.tables import job_logs, jobs
from glue_runtime.workspace.store import Store


class JobEnded(ConfigError):
    """The job has ended already: nothing to cancel."""


def cancel(store: Store, job: Job, *, now: float | None = None) -> Job:
    """Cancel ``job`` (already checked to be the caller's)."""
    at = time.time() if now is None else now
    with store.write() as conn:
        done = conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job.id, jobs.c.status == "queued")
            .values(status="cancelled", ended_at=at, cancel_requested=True)
        ).rowcount
        if not done:
            done = conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job.id, jobs.c.status == "running")
                .values(cancel_requested=True)
            ).rowcount
    if not done:
        current = records.get(store, job.id)
        raise JobEnded(
            f"job '{job.id}' has already ended ({current.status})",
            hint="rerun it to run it again",
        )
    return records.get(store, job.id)


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
    """The job's log lines after line id ``after`` (already redacted when written)."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(job_logs)
            .where(job_logs.c.job_id == job_id, job_logs.c.id > after)
            .order_by(job_logs.c.id)
            .limit(limit)
        ).all()
    return [
        {"id": r.id, "at": r.at, "source": r.source, "level": r.level, "line": r.line} for r in rows
    ]
