"""The store's job tables: jobs, their logs, progress samples and per-record target results.

The two partial unique indexes are the coalescing rule, enforced by the database across every
server and worker: at most one ``running`` and at most one ``queued`` job per
(flow, tenant, connector). A second start while one is queued folds into the queued one.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.workspace.tables import metadata

ACTIVE_ONE = ("flow", "tenant", "connector")

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("flow", sa.String(200), nullable=False),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("connector", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # see jobs/model.py STATUSES
    sa.Column("started_by", sa.String(16), nullable=False),  # cli, api, trigger, schedule, rerun
    sa.Column("started_ref", sa.Text, nullable=False, default=""),  # key name, trigger, schedule
    sa.Column("sync_type", sa.String(16), nullable=False, default="incremental"),
    sa.Column("streams", sa.Text),  # JSON list of stream names; NULL for all
    sa.Column("start_date", sa.Text),  # a start date override for this job only
    sa.Column("folded", sa.Integer, nullable=False, default=0),  # starts folded into this one
    sa.Column("rerun_of", sa.String(32)),
    sa.Column("attempt", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("not_before", sa.Float, nullable=False),  # debounce: not claimed before this
    sa.Column("started_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("worker", sa.Text),  # host:pid running it
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("counts", sa.Text),  # JSON {stream: {records_in, records_out, ...}}
    sa.Column("error", sa.Text),  # redacted message (and hint)
    sa.Column("exit_code", sa.Integer),
    sa.Column("state_before", sa.Text),  # JSON
    sa.Column("state_after", sa.Text),  # JSON
    sa.Column("result", sa.Text),  # JSON: JobResult.as_dict(), redacted
    sa.Index(
        "jobs_one_running",
        *ACTIVE_ONE,
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    ),
    sa.Index(
        "jobs_one_queued",
        *ACTIVE_ONE,
        unique=True,
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    ),
    sa.Index("jobs_by_status", "status", "not_before"),
    sa.Index("jobs_by_tenant", "tenant", "created_at"),
    sa.Index("jobs_by_flow", "flow", "created_at"),
)
job_logs = sa.Table(
    "job_logs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("job_id", sa.String(32), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),  # runtime, or the connector's id
    sa.Column("level", sa.String(10), nullable=False, default="INFO"),
    sa.Column("line", sa.Text, nullable=False),  # redacted
    sa.Index("job_logs_by_job", "job_id", "id"),
)
job_samples = sa.Table(
    "job_samples",
    metadata,
    sa.Column("job_id", sa.String(32), primary_key=True),
    sa.Column("at", sa.Float, primary_key=True),
    sa.Column("counts", sa.Text, nullable=False),  # JSON {stream: records so far}
)
job_results = sa.Table(
    "job_results",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("job_id", sa.String(32), nullable=False),
    sa.Column("stream", sa.String(400), nullable=False),
    sa.Column("record_id", sa.Text),  # the target's id for the record
    sa.Column("external_id", sa.Text),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("hash", sa.Text),
    sa.Index("job_results_by_job", "job_id", "stream"),
)


def remove_tenant_rows(conn: Connection, tenant: str) -> dict[str, int]:
    """A removed tenant's jobs with their logs, samples and results (workspace/schema.py's
    tenant_cleanups finds this here)."""
    from glue_runtime.jobs.retention import remove_tenant_rows as remove

    return remove(conn, tenant)
