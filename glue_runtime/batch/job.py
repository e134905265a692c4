"""Batch ETL jobs, the way hotglue runs transformation scripts.

A batch job runs in three phases, all under one lock on the state key:

1. **tap**: the tap's (selected) output lands per stream in the job folder's ``sync-output/``
   (JSON lines or CSV), through the landing target (``glue_runtime.batch.landing``). Nothing is
   committed: the tap's last STATE is kept aside.
2. **etl**: the script runs as its own process in the job folder, with the job's environment
   (``FLOW``, ``TENANT``, ``JOB_ID``, ``CONNECTOR_ID``, ``ROOT_DIR``, ``SYNC_OUTPUT``,
   ``ETL_OUTPUT``, ``SNAPSHOT_DIR``). It reads ``sync-output/`` and writes
   ``etl-output/data.singer`` (SCHEMA and RECORD lines; ``glue_runtime.batch.helpers`` helps).
   Its ``snapshots/`` folder is a working copy of the flow-and-tenant's persistent snapshots.
3. **target**: ``data.singer`` streams into the targets, followed by the tap's STATE; the STATE is
   committed once every target has confirmed it, and the snapshots are kept only then.

A failure in any phase fails the job; bookmarks and snapshots stay as they were.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

from glue_runtime.connectors import Connector
from glue_runtime.defaults import JOBS_DIR, SNAPSHOTS_DIR
from glue_runtime.errors import ConfigError, GlueError, TransformError
from glue_runtime.process import child_environ, die_with_parent, log_lines
from glue_runtime.protocol import loads_exact
from glue_runtime.result import JobResult
from glue_runtime.runner import run_job
from glue_runtime.secrets import Redactor
from glue_runtime.spec import Endpoint, JobSpec, job_secrets
from glue_runtime.state import StateCommitter

log = logging.getLogger("glue_runtime.batch")


@dataclass
class BatchOptions:
    script: Path
    output_format: str = "jsonl"
    flow: str = "flow"
    tenant: str = "default"
    connector_id: str | None = None  # a workspace run's supported connector id (else the tap's)
    jobs_dir: Path = JOBS_DIR
    snapshots_dir: Path = SNAPSHOTS_DIR
    keep_job_dir: bool = True


def _module_connector(module: str, kind: str, label: str) -> Connector:
    return Connector(label, kind, [sys.executable, "-m", module], "builtin", module)  # type: ignore[arg-type]


def _run_script(opts: BatchOptions, job_dir: Path, env: dict[str, str], redactor: Redactor) -> None:
    if not opts.script.is_file():
        raise ConfigError(f"batch ETL script {opts.script} does not exist")
    tail: deque[str] = deque(maxlen=30)
    logger = logging.getLogger("glue_runtime.connector.etl")
    proc = subprocess.Popen(
        [sys.executable, str(opts.script.resolve())],
        cwd=job_dir,
        env=child_environ(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent(),  # the script dies with the runner, as connectors do
    )
    assert proc.stdout is not None

    def relay() -> None:
        assert proc.stdout is not None
        # bounded: a huge line is logged cut; the script runs with the job's environment,
        # credentials included: mask them
        for line in log_lines(proc.stdout, redactor.redact):
            tail.append(line)
            logger.info(line, extra={"connector": "etl"})

    t = threading.Thread(target=relay, daemon=True)
    t.start()
    try:
        code = proc.wait()
    except BaseException:  # Ctrl-C or SIGTERM between phases: the script must not outlive us
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    t.join(5)
    if not t.is_alive():
        proc.stdout.close()  # now, not when the garbage collector runs
    if code != 0:
        lines = "\n".join(f"    {x}" for x in tail)
        raise TransformError(
            f"batch ETL script {opts.script} exited with code {code}; nothing was loaded and "
            f"no bookmark or snapshot was kept.\n  last lines of its output:\n{lines}",
            hint=f"the tap's output is in {job_dir / 'sync-output'}: rerun the script there "
            f"with the same environment to debug it",
        )
    _check_etl_output(opts, job_dir / "etl-output")


def _check_etl_output(opts: BatchOptions, etl_output: Path) -> None:
    """The script's output: ``data.singer`` is loaded. An empty ``etl-output/`` is a job that
    loads nothing (a write job with no new events): its tap's bookmarks still advance, as in
    hotglue. Other files alone (CSV, parquet exports) are not loaded yet: a named error."""
    singer = etl_output / "data.singer"
    if singer.is_file():
        return
    others = sorted(p.name for p in etl_output.iterdir())
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise TransformError(
            f"batch ETL script {opts.script} wrote {shown} to etl-output/ but no data.singer; "
            "only Singer output is loaded into the targets",
            hint="write SCHEMA and RECORD lines to $ETL_OUTPUT/data.singer "
            "(glue_runtime.batch.helpers.SingerWriter, or gluestick's to_singer, does it)",
        )
    log.info("batch ETL script %s wrote nothing to etl-output/: nothing to load", opts.script)
    singer.write_bytes(b"")  # the replay then sends only the tap's STATE: bookmarks advance


def _persist_snapshots(work: Path, persistent: Path) -> None:
    """Replace the persistent snapshots with the job's copy, as one rename."""
    persistent.parent.mkdir(parents=True, exist_ok=True)
    staged = persistent.with_name(persistent.name + ".new")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(work, staged)
    old = persistent.with_name(persistent.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if persistent.exists():
        os.replace(persistent, old)
    os.replace(staged, persistent)
    shutil.rmtree(old, ignore_errors=True)


def run_batch(base: JobSpec, opts: BatchOptions) -> JobResult:
    """Run tap -> sync-output -> script -> etl-output -> targets, as described above."""
    started = time.monotonic()
    job_dir = (opts.jobs_dir / f"{opts.flow}-{base.job_id}").resolve()
    sync_output, etl_output = job_dir / "sync-output", job_dir / "etl-output"
    snapshots_work = job_dir / "snapshots"
    persistent = (opts.snapshots_dir / opts.flow / opts.tenant).resolve()
    etl_output.mkdir(parents=True, exist_ok=True)
    if persistent.exists():
        shutil.copytree(persistent, snapshots_work)
    else:
        snapshots_work.mkdir(parents=True)

    committer = StateCommitter(base.store, base.state_key)
    redactor = Redactor(job_secrets(base))
    try:
        with committer.locked():
            log.info("batch job %s: phase 1/3: %s -> %s", base.job_id, base.tap.label, sync_output)
            landing = Endpoint(
                _module_connector("glue_runtime.batch.landing", "target", "landing"),
                {"output_dir": str(sync_output), "format": opts.output_format},
            )
            phase1 = run_job(
                replace(base, targets=[landing], hold_lock=False, expect_state_confirmations=False)
            )
            if not phase1.ok:
                return _finish(phase1, started, committer)

            log.info("batch job %s: phase 2/3: %s", base.job_id, opts.script)
            env = {
                **os.environ,
                **base.env,
                "FLOW": opts.flow,
                "TENANT": opts.tenant,
                "JOB_ID": base.job_id,
                "CONNECTOR_ID": opts.connector_id or base.tap.connector.name,
                "JOB_TYPE": "read",
                "ROOT_DIR": str(job_dir),
                "SYNC_OUTPUT": str(sync_output),
                "ETL_OUTPUT": str(etl_output),
                "SNAPSHOT_DIR": str(snapshots_work),
            }
            _run_script(opts, job_dir, env, redactor)

            log.info("batch job %s: phase 3/3: etl-output -> targets", base.job_id)
            tap_state = loads_exact((sync_output / "_state.json").read_bytes())
            replay = Endpoint(
                _module_connector("glue_runtime.batch.replay", "tap", "etl-output"),
                {"input": str(etl_output / "data.singer"), "state": tap_state},
            )
            phase3 = run_job(
                replace(
                    base,
                    tap=replay,
                    catalog=None,
                    stages=(),
                    mappers=[],  # they ran in phase 1, before the landing
                    after_mappers=(),
                    full_refresh=False,
                    hold_lock=False,
                    on_progress=None,
                    select_stats=None,
                    tap_config_source=None,
                )
            )
            if phase3.ok:
                _persist_snapshots(snapshots_work, persistent)
            phase3.warnings[:0] = phase1.warnings  # records with no schema, say
            for name, stats in phase1.streams.items():
                if name in phase3.streams:
                    phase3.streams[name].records_in = stats.records_in
                    phase3.streams[name].batch_files_in = stats.batch_files_in
                    phase3.streams[name].batch_uncounted_in = stats.batch_uncounted_in
            return _finish(phase3, started, committer)
    except GlueError as exc:
        if redactor:
            exc.message = redactor.redact(exc.message)
            exc.args = (exc.message,)
        result = JobResult(
            job_id=base.job_id,
            status="failed",
            duration_s=0.0,
            state=committer.current,
            state_key=base.state_key,
            state_location=base.store.location(base.state_key),
            error=exc,
        )
        # The error itself is the result's (the CLI prints it once, with its hint).
        log.error("batch job %s failed (%s)", base.job_id, exc.kind)
        return _finish(result, started, committer)
    finally:
        if not opts.keep_job_dir:
            shutil.rmtree(job_dir, ignore_errors=True)


def _finish(result: JobResult, started: float, committer: StateCommitter) -> JobResult:
    result.duration_s = time.monotonic() - started
    result.state = committer.store.get(committer.key) or result.state
    return result
