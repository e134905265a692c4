"""A link's health as its jobs end: consecutive failures counted, reset by a success, and
the link paused (with a ``link.paused`` event) when they reach ``pause_after``.

Called by the end of every job in the job's own transaction, so the count, the pause and the
event commit with the job's end or not at all.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.jobs.model import Job
from glue_runtime.workspace.linkpause import health_in, pause_in
from glue_runtime.workspace.tables import links

DEFAULT_PAUSE_AFTER = 10  # JobSettings.pause_after_failures' default


def after_job(
    conn: Connection,
    job: Job,
    succeeded: bool,
    *,
    pause_after: int | None = DEFAULT_PAUSE_AFTER,
    now: float | None = None,
) -> bool:
    """Count a failed job against its link (a succeeded one clears the count); pause the link
    when ``pause_after`` jobs in a row failed (None: never). Whether this paused it."""
    where = (
        (links.c.flow == job.flow)
        & (links.c.tenant == job.tenant)
        & (links.c.connector == job.connector)
    )
    values = {"failures": 0} if succeeded else {"failures": links.c.failures + 1}
    conn.execute(sa.update(links).where(where).values(**values))
    if succeeded or not pause_after:
        return False
    health = health_in(conn, job.flow, job.tenant, job.connector)
    if health is None or health.paused or health.failures < pause_after:
        return False
    reason = (
        f"{health.failures} jobs in a row failed (jobs.pause_after_failures is {pause_after}); "
        f"the last: {job.id}"
    )
    at = time.time() if now is None else now
    return pause_in(conn, job.flow, job.tenant, job.connector, reason, at, job_id=job.id)
