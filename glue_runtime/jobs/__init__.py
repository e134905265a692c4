"""Jobs: every run of a workspace flow for a tenant's link, recorded in the store.

From Python, the same operations as the CLI and the API, without a server::

    from glue_runtime import jobs

    queued = jobs.start("shop", "acme")            # for the executor of `glue serve`
    (job,) = jobs.run("shop", "acme", "files")     # here, now; its ended record
    jobs.get(job.id).status, jobs.list_jobs(tenant="acme", status="failed")
    jobs.cancel(job_id); jobs.rerun(job_id); jobs.logs(job_id, after=0)

The store-level functions (a :class:`~glue_runtime.workspace.store.Store` first) are in
``records`` (enqueue, get, list_jobs), ``lifecycle`` (claim, heartbeat, finish, cancel) and
``execute`` (run one claimed job). Names load on first use: the table module is imported by the
store's schema, which must not pull in the runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from glue_runtime.jobs.api import (
        JobBusy,
        cancel,
        get,
        list_jobs,
        logs,
        rerun,
        run,
        start,
    )
    from glue_runtime.jobs.execute import execute
    from glue_runtime.jobs.joblog import LogLine
    from glue_runtime.jobs.lifecycle import JobEnded
    from glue_runtime.jobs.model import (
        STATUSES,
        SYNC_TYPES,
        Job,
        JobRequest,
        Status,
        SyncType,
    )
    from glue_runtime.jobs.records import LinkPaused, enqueue
    from glue_runtime.jobs.retention import purge

_LAZY: dict[str, str] = {
    "JobBusy": "api",
    "cancel": "api",
    "get": "api",
    "list_jobs": "api",
    "logs": "api",
    "rerun": "api",
    "run": "api",
    "start": "api",
    "execute": "execute",
    "LogLine": "joblog",
    "JobEnded": "lifecycle",
    "STATUSES": "model",
    "SYNC_TYPES": "model",
    "Job": "model",
    "JobRequest": "model",
    "Status": "model",
    "SyncType": "model",
    "LinkPaused": "records",
    "enqueue": "records",
    "purge": "retention",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'glue_runtime.jobs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"glue_runtime.jobs.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "STATUSES",
    "SYNC_TYPES",
    "Job",
    "JobBusy",
    "JobEnded",
    "JobRequest",
    "LinkPaused",
    "LogLine",
    "Status",
    "SyncType",
    "cancel",
    "enqueue",
    "execute",
    "get",
    "list_jobs",
    "logs",
    "purge",
    "rerun",
    "run",
    "start",
]
