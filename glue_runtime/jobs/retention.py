"""Keeping job records for a while: ended jobs older than the retention go, with their logs,
progress samples and per-record results (``jobs.retention`` in glue.yml, default 30 days;
`glue jobs purge`). Queued and running jobs are never purged."""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.jobs.model import ENDED
from glue_runtime.jobs.tables import job_logs, job_results, job_samples, jobs
from glue_runtime.workspace.store import Store

DEFAULT_RETENTION_S = 30 * 86400.0
_CHUNK = 500  # ids per DELETE ... IN (...), well under every database's parameter limit


def delete_jobs(conn: Connection, ids: Sequence[str]) -> dict[str, int]:
    """Delete these jobs and everything kept of them; the rows removed per table."""
    removed = {t.name: 0 for t in (job_logs, job_samples, job_results, jobs)}
    for i in range(0, len(ids), _CHUNK):
        chunk = list(ids[i : i + _CHUNK])
        for child in (job_logs, job_samples, job_results):
            removed[child.name] += conn.execute(
                sa.delete(child).where(child.c.job_id.in_(chunk))
            ).rowcount
        removed["jobs"] += conn.execute(sa.delete(jobs).where(jobs.c.id.in_(chunk))).rowcount
    return removed


def purge(store: Store, older_than: float, *, now: float | None = None) -> dict[str, int]:
    """Delete the jobs that ended more than ``older_than`` seconds ago (with their logs,
    samples and results); the rows removed per table."""
    cutoff = (time.time() if now is None else now) - older_than
    with store.write() as conn:
        ids = list(
            conn.execute(
                sa.select(jobs.c.id).where(jobs.c.status.in_(ENDED), jobs.c.ended_at < cutoff)
            ).scalars()
        )
        return delete_jobs(conn, ids)


def remove_tenant_rows(conn: Connection, tenant: str) -> dict[str, int]:
    """Every job of ``tenant`` with its logs, samples and results (removing a tenant calls
    this through the store's schema, in its own transaction)."""
    ids = list(conn.execute(sa.select(jobs.c.id).where(jobs.c.tenant == tenant)).scalars())
    return delete_jobs(conn, ids)
