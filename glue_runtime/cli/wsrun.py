"""`glue run FLOW --tenant T`: a workspace flow run from the command line.

cli/__init__.py's ``run`` command hands over here when FLOW is a workspace flow (a tenant
option is given, or FLOW is no file on disk and a workspace is found); the runs themselves are
glue_runtime.workspace.runs'.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from glue_runtime.cli import _echo_json, _note, _report
from glue_runtime.errors import UsageError

if TYPE_CHECKING:  # the workspace layer (SQLAlchemy, yaml) loads only for a workspace run
    from glue_runtime.defaults import TimeoutsLike
    from glue_runtime.result import JobResult, StreamStats
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


def _line(job: LinkJob, result: JobResult) -> str:
    head = f"{job.name}: {result.status.upper()}"
    if not result.started:
        return f"{head} (not started: {result.error.message if result.error else 'unknown'})"
    return (
        f"{head}, {result.records_out:,} records in {result.duration_s:.2f}s (job {result.job_id})"
    )


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
) -> int:
    """Run the workspace flow's links; the worst exit code of its jobs (0 when all ran)."""
    from glue_runtime.workspace.open import open_workspace
    from glue_runtime.workspace.runbuild import RunOptions
    from glue_runtime.workspace.runs import run_jobs, select_jobs

    if not flow:
        raise UsageError("which flow?", hint="`glue run FLOW --tenant T` (`glue flows list`)")
    _refuse_file_options(file_options)
    live = _Progress() if progress else None
    options = RunOptions(full_refresh, refresh_catalog, live, timeouts)
    log_format = ctx.obj["log_format"]
    done: list[tuple[LinkJob, JobResult]] = []
    with open_workspace() as opened:
        jobs = select_jobs(
            opened, flow, tenant=tenant, all_tenants=all_tenants, connector=connector, note=_note
        )
        for job, result in run_jobs(opened, jobs, options):
            if live is not None:
                live.next_job()
            done.append((job, result))
            if not as_json:
                _report(result, False, log_format)
    ctx.obj["signals"].job_done = True
    if as_json:
        _echo_json(
            [
                {"flow": j.flow.name, "tenant": j.tenant, "connector": j.source.id, **r.as_dict()}
                for j, r in done
            ]
        )
    for job, result in done:  # one summary line a job, at the end (stderr)
        _note(_line(job, result), "info" if result.ok else "error")
    return max((r.exit_code for _j, r in done), default=0)
