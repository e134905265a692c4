"""`glue jobs list|show|logs|cancel|rerun|purge`, and the hidden `glue jobs exec JOB_ID`
(what the executor of `glue serve` spawns for each job)."""

from __future__ import annotations

import datetime as dt
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from glue_runtime.cli import _echo_json, _note, main
from glue_runtime.errors import UsageError

if TYPE_CHECKING:
    from glue_runtime.jobs.model import Job
    from glue_runtime.workspace.open import Opened

# `glue jobs exec` when the job cannot be claimed (not queued, or its key runs elsewhere):
# EX_TEMPFAIL, so an executor tells it from the job's own exit codes.
EXIT_NOT_CLAIMED = 75
_DRAIN_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_age(value: str, *, option: str) -> float:
    """Seconds from ``90s``, ``30m``, ``12h``, ``30d`` or ``2w``."""
    m = _AGE.match(value)
    if m is None:
        raise UsageError(
            f"{option} {value!r} is not a duration",
            hint="use a number with s, m, h, d or w: 90s, 30m, 12h, 30d, 2w",
        )
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def parse_since(value: str, *, now: float) -> float:
    """``--since``: an age (``1h``, ``7d``) or an ISO date or time (UTC when no zone)."""
    if _AGE.match(value):
        return now - parse_age(value, option="--since")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {value!r} is neither a duration nor an ISO date",
            hint="e.g. --since 1h, --since 7d, --since 2026-12-01 or --since 2026-12-01T08:00",
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(job: Job) -> str:
    d = job.duration_s
    if d is None:
        return "-" if job.started_at is None else "running"
    return f"{d:.1f}s" if d < 120 else f"{d / 60:.1f}m"


def _records(job: Job, key: str) -> int:
    return sum(int(c.get(key, 0)) for c in job.counts.values())


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _open() -> Opened:
    from glue_runtime.workspace.open import open_workspace

    return open_workspace()


@main.group(name="jobs")
def jobs_group() -> None:
    """Jobs: their records, logs, cancel and rerun (docs/jobs.md)."""


@jobs_group.command("list")
@click.option("--flow", help="Only this flow's jobs.")
@click.option("--tenant", help="Only this tenant's jobs.")
@click.option("--connector", help="Only this source's jobs.")
@click.option(
    "--status",
    type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]),
    multiple=True,
    help="Only jobs with this status (repeat for several).",
)
@click.option("--since", help="Only jobs created since: 1h, 7d, or an ISO date/time.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def jobs_list(
    flow: str | None,
    tenant: str | None,
    connector: str | None,
    status: tuple[str, ...],
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The jobs, newest first."""
    from glue_runtime.jobs.records import list_jobs

    after = parse_since(since, now=time.time()) if since else None
    with _open() as opened:
        found = list_jobs(
            opened.store,
            flow=flow,
            tenant=tenant,
            connector=connector,
            status=list(status) or None,
            since=after,
            limit=limit,
        )
    if as_json:
        _echo_json([j.as_dict() for j in found])
        return
    if not found:
        _note("no jobs" + (" match" if any((flow, tenant, connector, status, since)) else " yet"))
        return
    rows = [("ID", "FLOW/TENANT/CONNECTOR", "STATUS", "BY", "STARTED", "DURATION", "IN", "OUT")]
    rows += [
        (
            j.id,
            j.key,
            j.status,
            j.started_by,
            _when(j.started_at),
            _duration(j),
            f"{_records(j, 'records_in'):,}",
            f"{_records(j, 'records_out'):,}",
        )
        for j in found
    ]
    click.echo(_table(rows))


def describe_job(job: Job) -> str:
    """Everything about a job, for people."""
    lines = [
        f"job {job.id}: {job.status}",
        f"  flow/tenant/connector  {job.key}",
        f"  started by             {job.started_by}"
        + (f" ({job.started_ref})" if job.started_ref else ""),
        f"  sync type              {job.sync_type}"
        + (f", streams {', '.join(job.streams)}" if job.streams else "")
        + (f", start date {job.start_date}" if job.start_date else ""),
        f"  created                {_when(job.created_at)}",
        f"  started                {_when(job.started_at)}"
        + (f" on {job.worker}" if job.worker else ""),
        f"  ended                  {_when(job.ended_at)} ({_duration(job)})",
    ]
    if job.folded:
        lines.append(f"  folded                 {job.folded} later start(s) folded into it")
    if job.rerun_of:
        lines.append(f"  rerun of               {job.rerun_of} (attempt {job.attempt})")
    if job.cancel_requested:
        lines.append("  cancel requested       yes")
    if job.exit_code is not None:
        lines.append(f"  exit code              {job.exit_code}")
    if job.counts:
        rows = [("  stream", "records in", "records out")]
        rows += [
            (f"  {n}", f"{c.get('records_in', 0):,}", f"{c.get('records_out', 0):,}")
            for n, c in job.counts.items()
        ]
        lines.append(_table(rows))
    if job.error:
        lines.append("error: " + job.error)
    from glue_runtime.protocol import dumps_exact

    for name, state in (("state before", job.state_before), ("state after", job.state_after)):
        if state is not None:
            lines.append(f"{name}: {dumps_exact(state).decode()}")
    return "\n".join(lines)


@jobs_group.command("show")
@click.argument("job_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="As JSON (the record, and its result).")
def jobs_show(job_id: str, as_json: bool) -> None:
    """A job's record: status, times, per-stream counts, error, state before and after."""
    from glue_runtime.jobs.records import get

    with _open() as opened:
        job = get(opened.store, job_id)
    if as_json:
        _echo_json({**job.as_dict(), "result": job.result})
        return
    click.echo(describe_job(job))


def _print_lines(lines: list[Any]) -> None:
    for ln in lines:
        click.echo(f"{_when(ln.at)} {ln.level:<7} [{ln.source}] {ln.line}")


@jobs_group.command("logs")
@click.argument("job_id", metavar="ID")
@click.option("--follow", "-f", is_flag=True, help="Print new lines as they come, until it ends.")
@click.option("--interval", type=float, default=1.0, show_default=True, help="Poll every SECONDS.")
def jobs_logs(job_id: str, follow: bool, interval: float) -> None:
    """A job's log: the runtime's lines and its connectors' stderr, redacted."""
    from glue_runtime.jobs.joblog import read_logs
    from glue_runtime.jobs.records import get

    with _open() as opened:
        job = get(opened.store, job_id)
        after = 0
        while True:
            lines = read_logs(opened.store, job.id, after=after)
            _print_lines(lines)
            if lines:
                after = lines[-1].id
            if not follow or job.ended:
                break
            time.sleep(interval)
            job = get(opened.store, job.id)  # ended: one more read gets its last lines
    if follow:
        _note(f"job {job.id}: {job.status}")


@jobs_group.command("cancel")
@click.argument("job_id", metavar="ID")
def jobs_cancel(job_id: str) -> None:
    """Cancel a job: a queued one at once; a running one drains (the targets flush, the
    state holds what they confirmed) within its heartbeat."""
    from glue_runtime.jobs.lifecycle import cancel

    with _open() as opened:
        job = cancel(opened.store, job_id, now=time.time())
    if job.status == "cancelled":
        click.echo(f"job {job.id} cancelled")
    else:
        click.echo(f"job {job.id}: cancel requested; the process running it stops it")


def _wait(opened: Opened, job: Job, interval: float) -> Job:
    from glue_runtime.jobs.records import get

    while not job.ended:
        time.sleep(interval)
        job = get(opened.store, job.id)
    return job


@jobs_group.command("rerun")
@click.argument("job_id", metavar="ID")
@click.option("--wait", is_flag=True, help="Wait for the new job to end (run by `glue serve`).")
@click.option("--here", is_flag=True, help="Run the new job in this process, now.")
def jobs_rerun(job_id: str, wait: bool, here: bool) -> None:
    """Queue a new job like an ended one (same flow, tenant, connector, sync type, streams)."""
    from glue_runtime.jobs.api import rerun_in, run_queued

    with _open() as opened:
        job = rerun_in(opened, job_id, started_by="cli")
        click.echo(f"job {job.id} queued (rerun of {job_id})")
        if not (wait or here):
            return
        job = run_queued(opened, job) if here else _wait(opened, job, 1.0)
    click.echo(f"job {job.id}: {job.status}")
    if job.error:
        click.echo(f"error: {job.error}", err=True)
    sys.exit(job.exit_code or (0 if job.status == "succeeded" else 1))


@jobs_group.command("purge")
@click.option("--older-than", help="Ended jobs older than this go (default: jobs.retention, 30d).")
def jobs_purge(older_than: str | None) -> None:
    """Delete ended jobs older than the retention, with their logs, samples and results."""
    from glue_runtime.jobs.retention import purge
    from glue_runtime.jobs.settings import parse_job_settings

    with _open() as opened:
        if older_than is not None:
            age: float | None = parse_age(older_than, option="--older-than")
        else:
            age = parse_job_settings(opened.workspace.jobs).retention_s
        if age is None:
            click.echo("jobs.retention is 0: job records are kept forever; nothing purged")
            return
        removed = purge(opened.store, age)
    click.echo(
        f"purged {removed['jobs']} job(s) ended over {age / 86400:g} day(s) ago "
        f"({removed['job_logs']} log lines, {removed['job_samples']} samples)"
    )


@jobs_group.command("exec", hidden=True)
@click.argument("job_id", metavar="JOB_ID")
@click.option("--heartbeat", type=float, default=5.0, show_default=True, help="Seconds.")
@click.option("--worker", help="Who runs it, for the record (default: host:pid).")
@click.pass_context
def jobs_exec(ctx: click.Context, job_id: str, heartbeat: float, worker: str | None) -> None:
    """Claim the queued job and run it here; the exit code is the job's (75: not claimed).

    SIGTERM, SIGINT and SIGHUP drain the job: while its connectors run the job's own handler
    does it; before and after, this one sets the job's stop event instead of raising, so the
    job's record is always ended."""
    from glue_runtime.jobs.execute import ExecOptions, execute

    stop = threading.Event()
    old = {s: signal.signal(s, lambda *_a: stop.set()) for s in _DRAIN_SIGNALS}
    try:
        with _open() as opened:
            options = ExecOptions(heartbeat_s=heartbeat, stop=stop)
            job = execute(opened, job_id, worker=worker, options=options)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if job is None:
        with _open() as opened:
            from glue_runtime.jobs.records import get

            current = get(opened.store, job_id)  # a named error for an unknown id
            _note(f"job {job_id} was not claimed: it is {current.status}", "error")
            ctx.exit(EXIT_NOT_CLAIMED)
    ctx.obj["signals"].job_done = True
    _note(f"job {job.id}: {job.status}", "info" if job.status == "succeeded" else "error")
    ctx.exit(job.exit_code or (0 if job.status == "succeeded" else 1))
