"""Running one job with its record: claim it, run its link as a core run, record how it ended.

``glue jobs exec JOB_ID`` (what the executor spawns), ``glue run FLOW --tenant T`` and the
Python API's ``run`` come here. While the job runs, a watch thread renews its heartbeat, writes
a progress sample (records per stream so far), flushes its log lines and reads its cancel
request: a cancel stops the run the way SIGTERM does (the targets drain, the state holds what
they confirmed). Sync types:

- ``incremental``: from the bookmarks;
- ``full``: the tap gets no bookmarks, and the chosen streams' bookmarks (all when none are
  chosen) are replaced by what this run confirms; other streams' stay;
- ``reset``: the chosen streams' state (all of it when none are chosen) is cleared first,
  under the state key's lease, then the run goes on from there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glue_runtime.defaults import TimeoutsLike
from glue_runtime.errors import GlueError, Interrupted
from glue_runtime.jobs.joblog import JobLogHandler, capture
from glue_runtime.jobs.lifecycle import (
    Ending,
    claim,
    default_worker,
    finish,
    heartbeat,
    set_state_before,
)
from glue_runtime.jobs.model import Job
from glue_runtime.jobs.records import get
from glue_runtime.jobs.settings import job_settings
from glue_runtime.jobs.streams import JobRunBuilder
from glue_runtime.result import JobResult, StreamStats
from glue_runtime.secrets import Redactor
from glue_runtime.statestore import StateStore, default_owner
from glue_runtime.workspace import runparts
from glue_runtime.workspace.open import Opened
from glue_runtime.workspace.runbuild import LinkJob, RunOptions, link_request
from glue_runtime.workspace.runs import tenant_jobs

log = logging.getLogger("glue_runtime.jobs")

Clock = Callable[[], float]
ProgressFn = Callable[[dict[str, StreamStats], float], None]

STATUS_OF_RESULT = {"success": "succeeded", "failed": "failed", "interrupted": "interrupted"}


@dataclass
class ExecOptions:
    """How to run a claimed job (the CLI adds its live progress line)."""

    heartbeat_s: float = 5.0
    on_progress: ProgressFn | None = None
    refresh_catalog: bool = False
    timeouts: TimeoutsLike = None
    on_result: Callable[[JobResult], None] | None = None  # the core result, before the end
    # Set to stop the job as SIGTERM does (`glue jobs exec` sets it from its signal handler
    # while no connector runs); a cancel request sets it too.
    stop: threading.Event | None = None


def execute(
    opened: Opened,
    job_id: str,
    *,
    worker: str | None = None,
    now: Clock = time.time,
    heartbeat_s: float = 5.0,
    options: ExecOptions | None = None,
) -> Job | None:
    """Claim the queued job ``job_id`` and run it here; its ended record. None when it could
    not be claimed (it is not queued, or its key's running job holds it back): left as it is."""
    opts = options or ExecOptions(heartbeat_s=heartbeat_s)
    if opts.stop is not None and opts.stop.is_set():
        return None  # asked to stop before it began: leave the job queued
    job = claim(opened.store, job_id, worker=worker or default_worker(), now=now())
    if job is None:
        return None
    return JobRun(opened, job, now, opts).go()


def redact_value(value: Any, redactor: Redactor) -> Any:
    """Every string in a JSON-like value redacted."""
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, redactor) for v in value]
    return value


class JobRun:
    """One claimed job, run in this process."""

    def __init__(self, opened: Opened, job: Job, now: Clock, options: ExecOptions) -> None:
        self.opened = opened
        self.job = job
        self.now = now
        self.options = options
        self.redactor = Redactor()
        self.stop = options.stop or threading.Event()  # a cancel, a signal: the run drains
        self.cancel_seen = False
        self._ended = threading.Event()
        self._latest: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- the whole job -----------------------------------------------------------------------
    def go(self) -> Job | None:
        store = self.opened.store
        states = runparts.state_store(self.opened)
        handler = JobLogHandler(store, self.job.id, self.redactor, self.now)
        watch = threading.Thread(target=self._watch, args=(handler,), daemon=True)
        with capture(handler):
            log.info("job %s: %s (%s) started", self.job.id, self.job.key, self.job.sync_type)
            result: JobResult | None = None
            try:
                set_state_before(store, self.job.id, states.get(self.job.key))
                watch.start()
                result = self._run(states)
            except KeyboardInterrupt as exc:  # a signal before the connectors started
                result = self._interrupted(str(exc.args[0]) if exc.args else "SIGINT")
            except GlueError as exc:
                result = self._failed(exc)
            except Exception as exc:  # a bug: the record still ends, with the error
                log.exception("job %s: internal error", self.job.id)
                result = self._failed(GlueError(f"internal error in glue_runtime: {exc!r}"))
            finally:
                self._ended.set()
                handler.full.set()  # wakes the watch now
                if watch.is_alive():
                    watch.join(10)
            ending = self._ending(result, states)
            if self.options.on_result is not None and result is not None:
                self.options.on_result(result)
            log.info("job %s: %s", self.job.id, ending.status)
        pause_after = job_settings(self.opened.workspace).pause_after_failures or None
        ended = finish(store, self.job, ending, now=self.now(), pause_after=pause_after)
        return ended if ended is not None else get(store, self.job.id)  # recovery's decision

    def _link_job(self) -> LinkJob:
        flow = self.opened.workspace.flow(self.job.flow)
        found = tenant_jobs(self.opened, flow, self.job.tenant, self.job.connector, log.info)
        return found[0]

    def _run(self, states: StateStore) -> JobResult:
        job = self.job
        try:
            link_job = self._link_job()
            options = RunOptions(
                full_refresh=job.sync_type == "full",
                refresh_catalog=self.options.refresh_catalog,
                on_progress=self._progress,
                timeouts=self.options.timeouts,
                start_date=job.start_date,
            )
            request = link_request(self.opened, link_job, options)
            self.redactor.add(request.secrets)
            request.stop = self.stop
            if job.sync_type == "reset":
                self._reset(states)
            builder = JobRunBuilder(
                request,
                link_job,
                self.opened,
                streams=job.streams,
                refresh_catalog=self.options.refresh_catalog,
            )
            builder.job_id = job.id
            plan = builder.build()
        except GlueError as exc:
            return self._failed(exc)
        if self.stop.is_set():  # cancelled (or signalled) while it was being built
            return self._interrupted("a cancel request" if self.cancel_seen else "a signal")
        result = plan.execute()
        result.warnings[:0] = builder.warnings
        return result

    def _reset(self, states: StateStore) -> None:
        """Clear the chosen streams' state (all of it when none are chosen), under the key's
        lease so no running job's commit can interleave."""
        key = self.job.key
        lease = states.acquire(key, default_owner(), states.lease_ttl_s)
        try:
            if self.job.streams:
                states.commit(key, {}, lease, drop_streams=self.job.streams)
            else:
                states.set(key, {})  # whole: under the lease, so no commit interleaves
        finally:
            states.release(lease)
        log.info("job %s: state of %s reset", self.job.id, ", ".join(self.job.streams or ["all"]))

    # -- outcomes before any connector ran ---------------------------------------------------
    def _failed(self, error: GlueError) -> JobResult:
        log.error("%s", self.redactor.redact(str(error)))
        return JobResult(
            job_id=self.job.id,
            status="failed",
            duration_s=0.0,
            error=error,
            started=False,
            state_key=self.job.key,
        )

    def _interrupted(self, name: str) -> JobResult:
        error = Interrupted(f"interrupted by {name} before any connector started")
        return JobResult(
            job_id=self.job.id,
            status="interrupted",
            duration_s=0.0,
            error=error,
            started=False,
            state_key=self.job.key,
        )

    def _ending(self, result: JobResult | None, states: StateStore) -> Ending:
        if result is None:  # unreachable: every path above gives one
            result = self._failed(GlueError("the job ended without a result"))
        status = STATUS_OF_RESULT.get(result.status, "failed")
        if status == "interrupted" and self.cancel_seen:
            status = "cancelled"
        error = None
        if status == "cancelled":
            error = (
                "cancelled on request; the targets drained and the state holds what they confirmed"
            )
        elif result.error is not None and status != "succeeded":
            error = self.redactor.redact(str(result.error))
        try:
            state_after: dict[str, Any] | None = states.get(self.job.key)
        except GlueError:
            state_after = None
        return Ending(
            status=status,
            counts={name: s.as_dict() for name, s in result.streams.items()},
            error=error,
            exit_code=result.exit_code,
            state_after=state_after,
            result=redact_value(result.as_dict(), self.redactor),
        )

    # -- while it runs -----------------------------------------------------------------------
    def _progress(self, streams: dict[str, StreamStats], elapsed: float) -> None:
        with self._lock:
            self._latest = {name: s.records_in for name, s in streams.items()}
        if self.options.on_progress is not None:
            self.options.on_progress(streams, elapsed)

    def _watch(self, handler: JobLogHandler) -> None:
        """Flush the log every second; every ``heartbeat_s`` renew the heartbeat, write a
        sample, and read the cancel request (or see the job taken from us)."""
        beat_s = max(self.options.heartbeat_s, 0.01)
        tick = min(1.0, beat_s)
        next_beat = time.monotonic() + beat_s
        while not self._ended.is_set():
            handler.full.wait(tick)  # a second, or a full batch of log lines
            if self._ended.is_set():
                break
            handler.flush()
            if time.monotonic() < next_beat:
                continue
            next_beat = time.monotonic() + beat_s
            with self._lock:
                sample = dict(self._latest) if self._latest else None
            try:
                beat = heartbeat(self.opened.store, self.job.id, now=self.now(), sample=sample)
            except Exception:  # the store hiccuped: the next beat tries again
                log.warning("job %s: heartbeat failed", self.job.id, exc_info=True)
                continue
            if beat.cancel_requested and not self.cancel_seen:
                self.cancel_seen = True
                log.warning("job %s: cancel requested: stopping", self.job.id)
                self.stop.set()
            elif not beat.running and not self.stop.is_set():
                log.warning("job %s is no longer running in the store: stopping", self.job.id)
                self.stop.set()


__all__ = ["ExecOptions", "JobRun", "execute", "redact_value"]
