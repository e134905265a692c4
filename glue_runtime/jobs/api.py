"""The jobs from Python, without a server: the operations of ``glue jobs`` and the HTTP API.

``workspace`` is the workspace's folder (default: GLUE_WORKSPACE, else the nearest glue.yml
upwards) or an already opened one (:class:`~glue_runtime.workspace.open.Opened`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from glue_runtime.errors import ConfigError
from glue_runtime.jobs import lifecycle, records
from glue_runtime.jobs.execute import ExecOptions, execute
from glue_runtime.jobs.joblog import LogLine, read_logs
from glue_runtime.jobs.model import Job, JobRequest, StartedBy, SyncType
from glue_runtime.workspace.open import Opened, open_workspace
from glue_runtime.workspace.runs import tenant_jobs

log = logging.getLogger("glue_runtime.jobs")

WorkspaceLike = str | Path | Opened | None


class JobBusy(ConfigError):
    """The job's (flow, tenant, connector) has a running job: one runs at a time."""


@contextmanager
def opened_workspace(workspace: WorkspaceLike) -> Iterator[Opened]:
    """``workspace`` as an opened workspace (opened here, and closed after, when needed)."""
    if isinstance(workspace, Opened):
        yield workspace
        return
    with open_workspace(Path(workspace) if workspace is not None else None) as opened:
        yield opened


def requests_for(
    opened: Opened,
    flow: str,
    tenant: str,
    connector: str | None,
    *,
    started_by: StartedBy = "python",
    started_ref: str = "",
    sync_type: SyncType = "incremental",
    streams: Sequence[str] | None = None,
    start_date: str | None = None,
) -> list[JobRequest]:
    """One request per linked source of ``tenant`` in ``flow`` (``connector``: that one)."""
    found = tenant_jobs(opened, opened.workspace.flow(flow), tenant, connector, log.info)
    return [
        JobRequest(
            flow=flow,
            tenant=tenant,
            connector=link.source.id,
            started_by=started_by,
            started_ref=started_ref,
            sync_type=sync_type,
            streams=tuple(streams) if streams is not None else None,
            start_date=start_date,
        )
        for link in found
    ]


def queue_all(opened: Opened, reqs: Iterable[JobRequest], *, explicit: bool) -> list[Job]:
    """Queue each request; a paused link is skipped with a warning unless it was asked for by
    name (``explicit``): then LinkPaused."""
    out: list[Job] = []
    for req in reqs:
        try:
            job, _new = records.enqueue(opened.store, req)
        except records.LinkPaused as exc:
            if explicit:
                raise
            log.warning("%s/%s/%s: skipped: %s", req.flow, req.tenant, req.connector, exc.message)
            continue
        out.append(job)
    return out


def refuse_if_running(opened: Opened, req: JobRequest) -> None:
    """JobBusy when the request's key has a running job: a run here now would only queue."""
    other = lifecycle.running_job(opened.store, req.flow, req.tenant, req.connector)
    if other is not None:
        raise _busy(other, None)


def _busy(other: Job, queued: Job | None) -> JobBusy:
    stays = f"; job {queued.id} stays queued and runs after it" if queued is not None else ""
    return JobBusy(
        f"{other.key} is already running as job {other.id} (worker {other.worker}){stays}",
        hint=f"wait for it (`glue jobs logs {other.id} --follow`), or cancel it "
        f"(`glue jobs cancel {other.id}`)",
    )


def run_queued(
    opened: Opened, job: Job, options: ExecOptions | None = None, *, worker: str | None = None
) -> Job:
    """Claim and run a queued job here; its ended record. JobBusy when its key's running job
    holds it back, or another worker claimed it first."""
    ended = execute(opened, job.id, worker=worker, options=options or ExecOptions())
    if ended is not None:
        return ended
    current = records.get(opened.store, job.id)
    if current.status == "queued":
        other = lifecycle.running_job(opened.store, job.flow, job.tenant, job.connector)
        if other is not None:
            raise _busy(other, current)
    raise JobBusy(
        f"job {job.id} of {job.key} was taken by {current.worker or 'another worker'} "
        f"({current.status})",
        hint=f"`glue jobs show {job.id}` follows it",
    )


def start(
    flow: str,
    tenant: str,
    connector: str | None = None,
    *,
    workspace: WorkspaceLike = None,
    sync_type: SyncType = "incremental",
    streams: Sequence[str] | None = None,
    start_date: str | None = None,
    started_by: StartedBy = "python",
    started_ref: str = "",
) -> list[Job]:
    """Queue a job for each linked source of ``tenant`` in ``flow`` (or ``connector``'s), for
    whatever executor serves the workspace (`glue serve`); the queued (or folded-into) jobs."""
    with opened_workspace(workspace) as opened:
        reqs = requests_for(
            opened,
            flow,
            tenant,
            connector,
            started_by=started_by,
            started_ref=started_ref,
            sync_type=sync_type,
            streams=streams,
            start_date=start_date,
        )
        return queue_all(opened, reqs, explicit=connector is not None)


def run(
    flow: str,
    tenant: str,
    connector: str | None = None,
    *,
    workspace: WorkspaceLike = None,
    sync_type: SyncType = "incremental",
    streams: Sequence[str] | None = None,
    start_date: str | None = None,
    started_by: StartedBy = "python",
    heartbeat_s: float = 5.0,
) -> list[Job]:
    """Queue and run, in this process, a job for each linked source of ``tenant`` in ``flow``
    (or ``connector``'s), one after another; their ended records. A failed job does not raise
    (see ``job.status``); JobBusy when one's key is running elsewhere."""
    with opened_workspace(workspace) as opened:
        reqs = requests_for(
            opened,
            flow,
            tenant,
            connector,
            started_by=started_by,
            sync_type=sync_type,
            streams=streams,
            start_date=start_date,
        )
        for req in reqs:
            refuse_if_running(opened, req)
        queued = queue_all(opened, reqs, explicit=connector is not None)
        return [run_queued(opened, job, ExecOptions(heartbeat_s=heartbeat_s)) for job in queued]


def get(job_id: str, *, workspace: WorkspaceLike = None, tenant: str | None = None) -> Job:
    """The job's record; ConfigError for an unknown id."""
    with opened_workspace(workspace) as opened:
        return records.get(opened.store, job_id, tenant=tenant)


def list_jobs(
    *,
    workspace: WorkspaceLike = None,
    flow: str | None = None,
    tenant: str | None = None,
    connector: str | None = None,
    status: str | Iterable[str] | None = None,
    since: float | None = None,
    limit: int = 100,
    before: str | None = None,
) -> list[Job]:
    """Jobs, newest first, filtered (``since``: seconds since the epoch)."""
    with opened_workspace(workspace) as opened:
        return records.list_jobs(
            opened.store,
            flow=flow,
            tenant=tenant,
            connector=connector,
            status=status,
            since=since,
            limit=limit,
            before=before,
        )


def cancel(job_id: str, *, workspace: WorkspaceLike = None, tenant: str | None = None) -> Job:
    """Cancel a job: a queued one ends at once; a running one is stopped by the process
    running it (within its heartbeat) as Ctrl-C stops a run. JobEnded when it has ended."""
    with opened_workspace(workspace) as opened:
        return lifecycle.cancel(opened.store, job_id, now=time.time(), tenant=tenant)


def rerun(
    job_id: str,
    *,
    workspace: WorkspaceLike = None,
    tenant: str | None = None,
    started_by: StartedBy = "rerun",
) -> Job:
    """Queue a new job like an ended one: its flow, tenant, connector, sync type, streams and
    start date; ``rerun_of`` names the old one."""
    with opened_workspace(workspace) as opened:
        return rerun_in(opened, job_id, tenant=tenant, started_by=started_by)


def rerun_in(
    opened: Opened, job_id: str, *, tenant: str | None = None, started_by: StartedBy = "rerun"
) -> Job:
    old = records.get(opened.store, job_id, tenant=tenant)
    if not old.ended:
        raise ConfigError(
            f"job '{old.id}' is still {old.status}: only an ended job is rerun",
            hint=f"`glue jobs cancel {old.id}` first, or wait for it to end",
        )
    job, _new = records.enqueue(
        opened.store,
        JobRequest(
            flow=old.flow,
            tenant=old.tenant,
            connector=old.connector,
            started_by=started_by,
            started_ref=old.id,
            sync_type=old.sync_type,
            streams=tuple(old.streams) if old.streams is not None else None,
            start_date=old.start_date,
            rerun_of=old.id,
            attempt=old.attempt + 1,
        ),
    )
    return job


def logs(
    job_id: str, *, after: int = 0, workspace: WorkspaceLike = None, tenant: str | None = None
) -> list[LogLine]:
    """The job's log lines after line id ``after`` (0: from the start), in order."""
    with opened_workspace(workspace) as opened:
        records.get(opened.store, job_id, tenant=tenant)  # a named error for an unknown id
        return read_logs(opened.store, job_id, after=after)


# The same, under the names glue_runtime exports them by (glue_runtime.start_job, ...).
start_job = start
run_job = run
get_job = get
cancel_job = cancel
rerun_job = rerun
job_logs = logs
