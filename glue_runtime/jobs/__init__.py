"""Jobs: every run of a workspace flow for a tenant's link, recorded in the store.

From Python, the same operations as the CLI and the API, without a server:
:func:`start` queues a job for whatever executor serves the workspace, :func:`run` runs it in
the calling process and returns its record, :func:`get` and :func:`list_jobs` read records.
"""

from __future__ import annotations

from glue_runtime.jobs.model import (
    STATUSES,
    SYNC_TYPES,
    Job,
    JobRequest,
    Status,
    SyncType,
)
from glue_runtime.jobs.records import LinkPaused, enqueue, get, list_jobs

__all__ = [
    "STATUSES",
    "SYNC_TYPES",
    "Job",
    "JobRequest",
    "LinkPaused",
    "Status",
    "SyncType",
    "enqueue",
    "get",
    "list_jobs",
]
