"""A job's life in the store: claimed, heartbeats and samples, logs, cancel requests, its end.

Each step is one short transaction whose WHERE clause checks the job's status, so racing
workers and servers agree through the database: a claim moves ``queued`` to ``running`` only
once (the one-running index refuses a second running job of the same key), and an end is
written only over ``running``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from glue_runtime.errors import ConfigError
from glue_runtime.jobs import linkhealth
from glue_runtime.jobs.model import Job
from glue_runtime.jobs.records import get, json_text, to_job
from glue_runtime.jobs.tables import job_logs, job_samples, jobs
from glue_runtime.workspace.outbox import emit
from glue_runtime.workspace.store import Store

log = logging.getLogger("glue_runtime.jobs")


class JobEnded(ConfigError):
    """The job has ended already: there is nothing to cancel."""


def default_worker() -> str:
    """``host:pid``: who runs a job, as its record and the logs say."""
    return f"{socket.gethostname()}:{os.getpid()}"


def event_data(job: Job) -> dict[str, Any]:
    """What a job event says: ids, status, counts and the (redacted) error; never a config."""
    return {
        "job_id": job.id,
        "flow": job.flow,
        "tenant": job.tenant,
        "connector": job.connector,
        "status": job.status,
        "started_by": job.started_by,
        "sync_type": job.sync_type,
        "counts": job.counts,
        "error": job.error,
    }


def claim(store: Store, job_id: str, *, worker: str, now: float) -> Job | None:
    """Move the queued job to running for ``worker`` and emit ``job.started``; None when it is
    not queued any more, or its key has a running job already (then it stays queued)."""
    try:
        with store.write() as conn:
            done = conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == "queued")
                .values(status="running", started_at=now, heartbeat_at=now, worker=worker)
            )
            if done.rowcount != 1:
                return None
            job = to_job(conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one())
            emit(conn, "job.started", event_data(job), tenant=job.tenant)
    except sa.exc.IntegrityError:
        return None  # the key's running job holds the one-running index
    return job


def running_job(store: Store, flow: str, tenant: str, connector: str) -> Job | None:
    """The key's running job, if it has one."""
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(jobs).where(
                jobs.c.flow == flow,
                jobs.c.tenant == tenant,
                jobs.c.connector == connector,
                jobs.c.status == "running",
            )
        ).first()
    return None if row is None else to_job(row)


def set_state_before(store: Store, job_id: str, state: dict[str, Any]) -> None:
    with store.write() as conn:
        conn.execute(
            sa.update(jobs).where(jobs.c.id == job_id).values(state_before=json_text(state))
        )


@dataclass(frozen=True)
class Beat:
    """What a heartbeat learned: whether the job is still ours to run, and a cancel request."""

    running: bool
    cancel_requested: bool


def heartbeat(
    store: Store, job_id: str, *, now: float, sample: dict[str, int] | None = None
) -> Beat:
    """Renew the job's heartbeat, record a progress sample, read its cancel request."""
    with store.write() as conn:
        done = conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == "running")
            .values(heartbeat_at=now)
        )
        if sample is not None and done.rowcount == 1:
            exists = conn.execute(
                sa.select(job_samples.c.at).where(
                    job_samples.c.job_id == job_id, job_samples.c.at == now
                )
            ).first()
            if exists is None:
                conn.execute(
                    sa.insert(job_samples).values(job_id=job_id, at=now, counts=json_text(sample))
                )
        asked = conn.execute(sa.select(jobs.c.cancel_requested).where(jobs.c.id == job_id)).scalar()
    return Beat(done.rowcount == 1, bool(asked))


def write_logs(store: Store, job_id: str, lines: Sequence[tuple[float, str, str, str]]) -> None:
    """Append ``(at, source, level, line)`` lines (already redacted) to the job's log."""
    if not lines:
        return
    with store.write() as conn:
        conn.execute(
            sa.insert(job_logs),
            [
                {"job_id": job_id, "at": at, "source": src, "level": lvl, "line": text}
                for at, src, lvl, text in lines
            ],
        )


@dataclass
class Ending:
    """How a job ended, as its record keeps it (every text already redacted)."""

    status: str
    counts: dict[str, dict[str, int]]
    error: str | None
    exit_code: int
    state_after: dict[str, Any] | None
    result: dict[str, Any] | None


def finish(
    store: Store,
    job: Job,
    ending: Ending,
    *,
    now: float,
    pause_after: int | None = linkhealth.DEFAULT_PAUSE_AFTER,
) -> Job | None:
    """Write the job's end, count it against its link (pausing it after ``pause_after``
    failures in a row: the ``jobs.pause_after_failures`` setting) and emit ``job.succeeded``
    or ``job.failed``, in one transaction; None when the job was no longer running (recovery
    marked it interrupted meanwhile: its decision stands)."""
    with store.write() as conn:
        done = conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job.id, jobs.c.status == "running")
            .values(
                status=ending.status,
                ended_at=now,
                counts=json_text(ending.counts),
                error=ending.error,
                exit_code=ending.exit_code,
                state_after=json_text(ending.state_after),
                result=json_text(ending.result),
            )
        )
        if done.rowcount != 1:
            log.warning(
                "job %s was no longer running when it ended; its end is not written", job.id
            )
            return None
        ended = to_job(conn.execute(sa.select(jobs).where(jobs.c.id == job.id)).one())
        if ended.status in ("succeeded", "failed"):  # a cancel or a shutdown is not the link's
            linkhealth.after_job(
                conn, ended, ended.status == "succeeded", pause_after=pause_after, now=now
            )
        kind = "job.succeeded" if ended.status == "succeeded" else "job.failed"
        emit(conn, kind, event_data(ended), tenant=ended.tenant)
    return ended


def cancel(store: Store, job_id: str, *, now: float, tenant: str | None = None) -> Job:
    """Cancel a job: a queued one is cancelled at once; a running one gets ``cancel_requested``
    and the process running it stops it (as Ctrl-C does). JobEnded when it has ended."""
    job = get(store, job_id, tenant=tenant)
    with store.write() as conn:
        done = conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job.id, jobs.c.status == "queued")
            .values(status="cancelled", cancel_requested=True, ended_at=now)
        )
        if done.rowcount == 0:
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job.id, jobs.c.status == "running")
                .values(cancel_requested=True)
            )
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job.id)).one()
    job = to_job(row)
    if job.ended and not (job.status == "cancelled" and done.rowcount == 1):
        raise JobEnded(
            f"job '{job.id}' has already ended ({job.status}): there is nothing to cancel",
            hint=f"`glue jobs rerun {job.id}` starts it again",
        )
    return job
