"""Which queued jobs an executor starts next, reserved in the store so the limits hold across
every server sharing it.

A job's child process takes a second or more to start and claim its job. Counting only
``running`` jobs, two servers looking at the same moment would both start a job over a
per-connector cap. So the executor *reserves* what it picks, in the transaction that counted:
the queued job gets ``worker`` = the executor (``host:pid``) and ``heartbeat_at`` = when. Counts
are running jobs plus fresh reservations; the picks are serialised (SQLite's write lock,
PostgreSQL's transaction-level advisory lock). The child's claim (queued -> running) replaces
the reservation with its own ``worker``. A reservation older than ``stale_after`` is void (its
executor died before its child claimed): another executor may pick the job.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.jobs.model import Job
from glue_runtime.jobs.records import to_job
from glue_runtime.jobs.recovery import hostname
from glue_runtime.jobs.settings import JobSettings
from glue_runtime.jobs.tables import jobs
from glue_runtime.workspace.store import Store

_PICK_LOCK = zlib.crc32(b"glue_runtime.jobs.pick")  # one advisory lock for every executor
_LOOK_AHEAD = 50  # queued jobs looked at beyond the free slots (some are over a cap)


def executor_id() -> str:
    """This executor's ``worker`` value while it holds a reservation: ``host:pid``."""
    return f"{hostname()}:{os.getpid()}"


@dataclass
class Counts:
    """Running and reserved jobs per tenant and per connector, across every server."""

    tenant: dict[str, int] = field(default_factory=dict)
    connector: dict[str, int] = field(default_factory=dict)

    def add(self, tenant: str, connector: str) -> None:
        self.tenant[tenant] = self.tenant.get(tenant, 0) + 1
        self.connector[connector] = self.connector.get(connector, 0) + 1

    def allow(self, job: Job, settings: JobSettings) -> bool:
        cap = settings.per_tenant
        if cap is not None and self.tenant.get(job.tenant, 0) >= cap:
            return False
        cap = settings.connector_cap(job.connector)
        return cap is None or self.connector.get(job.connector, 0) < cap


def _reserved(now: float, settings: JobSettings) -> sa.ColumnElement[bool]:
    """A queued job some executor reserved less than ``stale_after`` ago."""
    return sa.and_(
        jobs.c.status == "queued",
        jobs.c.worker.is_not(None),
        jobs.c.heartbeat_at >= now - settings.stale_after_s,
    )


def _counts(conn: Connection, now: float, settings: JobSettings) -> Counts:
    query = sa.select(jobs.c.tenant, jobs.c.connector).where(
        sa.or_(jobs.c.status == "running", _reserved(now, settings))
    )
    counts = Counts()
    for row in conn.execute(query):
        counts.add(row.tenant, row.connector)
    return counts


def _due(conn: Connection, now: float, settings: JobSettings, me: str, limit: int) -> list[Job]:
    """Queued jobs due by ``now``, not reserved by another executor, whose link runs no job, in
    (not_before, created_at) order."""
    running = sa.alias(jobs, "running")
    busy = sa.exists().where(
        running.c.flow == jobs.c.flow,
        running.c.tenant == jobs.c.tenant,
        running.c.connector == jobs.c.connector,
        running.c.status == "running",
    )
    free = sa.or_(
        jobs.c.worker.is_(None),
        jobs.c.worker == me,
        jobs.c.heartbeat_at.is_(None),
        jobs.c.heartbeat_at < now - settings.stale_after_s,
    )
    query = (
        sa.select(jobs)
        .where(jobs.c.status == "queued", jobs.c.not_before <= now, free, ~busy)
        .order_by(jobs.c.not_before, jobs.c.created_at, jobs.c.id)
        .limit(limit)
    )
    return [to_job(r) for r in conn.execute(query)]


def pick(
    store: Store,
    settings: JobSettings,
    *,
    now: float,
    free: int,
    skip: frozenset[str] = frozenset(),
    me: str | None = None,
) -> list[Job]:
    """Reserve up to ``free`` queued jobs for executor ``me`` under the per-tenant and
    per-connector caps; the reserved jobs, in the order to start them. ``skip``: ids this
    executor runs already."""
    me = me or executor_id()
    chosen: list[Job] = []
    with store.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PICK_LOCK)))
        counts = _counts(conn, now, settings)
        for job in _due(conn, now, settings, me, free + _LOOK_AHEAD):
            if len(chosen) >= free:
                break
            if job.id in skip or not counts.allow(job, settings):
                continue
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job.id, jobs.c.status == "queued")
                .values(worker=me, heartbeat_at=now)
            )
            counts.add(job.tenant, job.connector)
            chosen.append(job)
    return chosen


def release(store: Store, job_ids: list[str] | None = None, *, me: str | None = None) -> int:
    """Drop this executor's reservations (of ``job_ids``, or all) on jobs still queued: a
    child that could not start, or an executor stopping. How many were dropped."""
    me = me or executor_id()
    where = [jobs.c.status == "queued", jobs.c.worker == me]
    if job_ids is not None:
        where.append(jobs.c.id.in_(job_ids))
    with store.write() as conn:
        done = conn.execute(sa.update(jobs).where(*where).values(worker=None, heartbeat_at=None))
    return int(done.rowcount)
