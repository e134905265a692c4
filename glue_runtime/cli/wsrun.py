"""`glue run FLOW --tenant T`: a workspace flow run from the command line.

cli/__init__.py's ``run`` command hands over here when FLOW is a workspace flow (a tenant
option is given, or FLOW is no file on disk and a workspace is found); the runs themselves are
glue_runtime.workspace.runs'.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from glue_runtime.cli import _echo_json, _note, _report
from glue_runtime.errors import UsageError

if TYPE_CHECKING:  # the workspace layer (SQLAlchemy, yaml) loads only for a workspace run
    from glue_runtime.defaults import TimeoutsLike
    from glue_runtime.result import JobResult, StreamStats
    from glue_runtime.workspace.open import Opened
    from glue_runtime.workspace.runbuild import LinkJob

_FLOW_FILE_SUFFIXES = (".yml", ".yaml", ".json")


def is_workspace_run(flow: str | None, tenant: str | None, all_tenants: bool) -> bool:
    """Whether `glue run` was given a workspace flow rather than a flow file.

    A tenant option says so; else a FLOW that is no file on disk (and does not look like a
    flow file's name) names a workspace flow when there is a workspace. Every flow file run
    and --tap/--target run stays as it was.
    """
    if tenant is not None or all_tenants:
        return True
    if not flow or Path(flow).exists() or flow.endswith(_FLOW_FILE_SUFFIXES):
        return False
    from glue_runtime.workspace.config import find_workspace

    return find_workspace() is not None


def _refuse_file_options(given: dict[str, Any]) -> None:
    used = sorted(f"--{k.replace('_', '-')}" for k, v in given.items() if v)
    if used:
        raise UsageError(
            f"{', '.join(used)} cannot be used with a workspace flow",
            hint="a workspace flow takes its connectors, configs and state from the workspace",
        )


def _line(job: LinkJob, result: JobResult, job_id: str) -> str:
    head = f"{job.name}: {result.status.upper()}"
    if not result.started:
        why = result.error.message if result.error else "unknown"
        return f"{head} (not started: {why}; job {job_id})"
    return f"{head}, {result.records_out:,} records in {result.duration_s:.2f}s (job {job_id})"


class _Progress:
    """The live progress line, a fresh one for each job (its rates are per job)."""

    def __init__(self) -> None:
        from glue_runtime.logs import ProgressLine

        self._new = ProgressLine
        self.line = ProgressLine()

    def __call__(self, streams: dict[str, StreamStats], elapsed: float) -> None:
        self.line(streams, elapsed)

    def next_job(self) -> None:
        self.line.close()
        self.line = self._new()


@dataclass(frozen=True)
class JobChoices:
    """`glue run`'s job options for a workspace flow."""

    sync_type: str = "incremental"
    streams: tuple[str, ...] | None = None
    start_date: str | None = None


def job_choices(
    full_refresh: bool, sync_type: str | None, streams: str | None, start_date: str | None
) -> JobChoices:
    """--sync-type (or --full-refresh, the same as --sync-type full), --streams a,b and
    --start-date, checked."""
    if full_refresh and sync_type not in (None, "full"):
        raise UsageError(
            f"--full-refresh and --sync-type {sync_type} contradict each other",
            hint="--full-refresh is --sync-type full",
        )
    chosen = None
    if streams is not None:
        chosen = tuple(s.strip() for s in streams.split(",") if s.strip())
        if not chosen:
            raise UsageError("--streams names no stream", hint="e.g. --streams orders,customers")
    if start_date is not None:
        try:
            dt.datetime.fromisoformat(start_date)
        except ValueError:
            raise UsageError(
                f"--start-date {start_date!r} is not an ISO date or time",
                hint="e.g. --start-date 2026-01-01 or 2026-01-01T00:00:00Z",
            ) from None
    return JobChoices("full" if full_refresh else (sync_type or "incremental"), chosen, start_date)


def run_workspace(
    ctx: click.Context,
    flow: str | None,
    *,
    tenant: str | None,
    all_tenants: bool,
    connector: str | None,
    full_refresh: bool,
    refresh_catalog: bool,
    timeouts: TimeoutsLike,
    as_json: bool,
    file_options: dict[str, Any],
    progress: bool = False,
    choices: JobChoices | None = None,
) -> int:
    """Run the workspace flow's links, each recorded as a job; the worst exit code of its
    jobs (0 when all ran)."""
    from glue_runtime.workspace.open import open_workspace
    from glue_runtime.workspace.runs import select_jobs

    if not flow:
        raise UsageError("which flow?", hint="`glue run FLOW --tenant T` (`glue flows list`)")
    _refuse_file_options(file_options)
    picked = choices or JobChoices("full" if full_refresh else "incremental")
    live = _Progress() if progress else None
    log_format = ctx.obj["log_format"]
    done: list[tuple[LinkJob, JobResult, str]] = []
    codes: list[int] = []
    with open_workspace() as opened:
        links = select_jobs(
            opened, flow, tenant=tenant, all_tenants=all_tenants, connector=connector, note=_note
        )
        for i, link in enumerate(links):
            got = _run_one(opened, link, picked, live, refresh_catalog, timeouts)
            if live is not None:
                live.next_job()
            if got is None:
                codes.append(2)
                continue
            result, job_id = got
            done.append((link, result, job_id))
            if not as_json:
                _report(result, False, log_format)
            if result.status == "interrupted" and i + 1 < len(links):
                rest = ", ".join(j.name for j in links[i + 1 :])
                _note(f"{link.name} was interrupted: not running {rest}", "warning")
                break
    ctx.obj["signals"].job_done = True
    if as_json:
        _echo_json(
            [
                {"flow": j.flow.name, "tenant": j.tenant, "connector": j.source.id, **r.as_dict()}
                for j, r, _id in done
            ]
        )
    for link, result, job_id in done:  # one summary line a job, at the end (stderr)
        _note(_line(link, result, job_id), "info" if result.ok else "error")
    return max([*codes, *(r.exit_code for _j, r, _id in done)], default=0)


def _run_one(
    opened: Opened,
    link: LinkJob,
    picked: JobChoices,
    live: _Progress | None,
    refresh_catalog: bool,
    timeouts: TimeoutsLike,
) -> tuple[JobResult, str] | None:
    """One link's run as a job (queued, then run here); its result and job id. None when its
    key runs elsewhere (said on stderr)."""
    from glue_runtime.jobs.api import JobBusy, refuse_if_running, run_queued
    from glue_runtime.jobs.execute import ExecOptions
    from glue_runtime.jobs.model import JobRequest
    from glue_runtime.jobs.records import LinkPaused, enqueue

    request = JobRequest(
        flow=link.flow.name,
        tenant=link.tenant,
        connector=link.source.id,
        started_by="cli",
        sync_type=picked.sync_type,  # type: ignore[arg-type]  # checked by click's Choice
        streams=picked.streams,
        start_date=picked.start_date,
    )
    try:
        refuse_if_running(opened, request)
        job, _new = enqueue(opened.store, request)
    except (JobBusy, LinkPaused) as exc:
        _note(f"error: {exc}", "error")
        return None
    results: list[JobResult] = []
    options = ExecOptions(
        on_progress=live,
        refresh_catalog=refresh_catalog,
        timeouts=timeouts,
        on_result=results.append,
    )
    try:
        run_queued(opened, job, options)
    except JobBusy as exc:
        _note(f"error: {exc}", "error")
        return None
    return results[0], job.id
