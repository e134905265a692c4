"""A link's health as its jobs end: consecutive failures counted, reset by a success.

Called by the end of every job in the job's own transaction. Pausing a link that fails too
often (the ``jobs.pause_after_failures`` setting) and the ``link.paused`` event are added here.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.jobs.model import Job
from glue_runtime.workspace.tables import links


def after_job(conn: Connection, job: Job, succeeded: bool) -> None:
    """Count a failed job against its link; a succeeded one clears the count."""
    where = (
        (links.c.flow == job.flow)
        & (links.c.tenant == job.tenant)
        & (links.c.connector == job.connector)
    )
    values = {"failures": 0} if succeeded else {"failures": links.c.failures + 1}
    conn.execute(sa.update(links).where(where).values(**values))
