"""What a job tells: its first error, its per-stream counts, progress, the summary and the result.

- :class:`Outcome` keeps the job's error: the first cause (later failures are usually its
  consequences), masked with the job's secrets, with a failed state write appended to it.
- :class:`Streams` holds the per-stream counts the reader and the writer add to.
- :func:`progress_loop` calls ``JobSpec.on_progress`` while the job runs.
- :func:`build_result` turns them into the :class:`~glue_runtime.result.JobResult`, and
  :func:`log_summary` logs it (one line per stream, one for the job).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from glue_runtime.batchcount import BatchCounts
from glue_runtime.errors import GlueError, Interrupted
from glue_runtime.result import JobResult, StreamStats, describe_count
from glue_runtime.secrets import Redactor
from glue_runtime.stages.stats import StageStats

log = logging.getLogger("glue_runtime.job")


class Outcome:
    """The job's error, if any: the first cause, redacted; what followed is logged or appended."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.error: GlueError | None = None
        self.lock = threading.RLock()  # re-entrant: the signal handler takes it too

    def fail(self, error: GlueError) -> None:
        """Keep the first cause; later failures are usually its consequences.

        The message is redacted here, as it may quote a connector's output (a malformed line).
        """
        with self.lock:
            if self.error is None:
                if self.redactor:
                    error.message = self.redactor.redact(error.message)
                    error.args = (error.message,)
                    if error.hint:
                        error.hint = self.redactor.redact(error.hint)
                self.error = error

    def fail_state(self, error: GlueError) -> None:
        """A state write failed: the job's error, or an addition to the error it already has.

        A tap failure recorded first says its last confirmed state was committed; when that
        write then fails, the report must say so rather than keep the claim.
        """
        with self.lock:
            first = self.error
            if first is None or first is error:
                self.fail(error)
                return
            message = self.redactor.redact(error.message) if self.redactor else error.message
            if message in first.message:
                return  # the same write failing again at the end
            log.error("%s", message)
            first.message = f"{first.message}\n  and then: {message}"
            first.args = (first.message,)

    @property
    def status(self) -> str:
        if self.error is None:
            return "success"
        return "interrupted" if isinstance(self.error, Interrupted) else "failed"


class Streams:
    """The job's per-stream counts, by stream name (``stats`` goes into the result as is)."""

    def __init__(self) -> None:
        self.stats: dict[str, StreamStats] = {}

    def new(self, name: str) -> StreamStats:
        """Start counting a stream the job has not seen yet (logged: the stream started)."""
        stats = StreamStats(name=name, started_at=time.monotonic())
        self.stats[name] = stats
        log.info("stream %s: started", name, extra={"stream": name, "event": "stream_start"})
        return stats

    def get(self, name: str) -> StreamStats:
        return self.stats.get(name) or self.new(name)

    def add_out(self, counts: Mapping[str, int]) -> None:
        """Records written to the targets, per stream."""
        for name, n in counts.items():
            self.get(name).records_out += n

    def add_batches(self, read: Mapping[str, BatchCounts], sent: Mapping[str, BatchCounts]) -> None:
        """Add the rows of the BATCH files read and sent (batchcount.py) to the counts."""
        for name, c in read.items():
            stats = self.get(name)
            stats.records_in += c.rows
            stats.batch_files_in += c.files
            stats.batch_uncounted_in += c.uncounted
        for name, c in sent.items():
            stats = self.get(name)
            stats.records_out += c.rows
            stats.batch_files_out += c.files
            stats.batch_uncounted_out += c.uncounted

    def add_select_stats(self, select_stats: Any) -> None:
        """The field map selector's counts of fields it dropped, and its summary in the log."""
        for name, n in select_stats.unknown_fields.items():
            if name in self.stats:
                self.stats[name].dropped_fields = n
        for line in select_stats.summary_lines():
            log.warning("%s", line)


def progress_loop(
    callback: Callable[[dict[str, StreamStats], float], None],
    streams: Streams,
    interval_s: float,
    done: threading.Event,
) -> None:
    """Call ``callback(counts, seconds)`` every ``interval_s`` until ``done``; its errors are
    ignored (a progress display must not fail the job)."""
    start = time.monotonic()
    while not done.wait(interval_s):
        with contextlib.suppress(Exception):
            callback(streams.stats, time.monotonic() - start)


def log_summary(result: JobResult) -> None:
    for name, s in result.streams.items():
        log.info(
            "stream %s: %s records in, %s out",
            name,
            s.describe_in(),
            s.describe_out(),
            extra={"stream": name, "event": "stream_end", **s.as_dict()},
        )
    level = logging.INFO if result.ok else logging.ERROR
    log.log(
        level,
        "job %s %s in %.2fs: %s records in, %s out, %d state commits (state: %s)",
        result.job_id,
        result.status,
        result.duration_s,
        describe_count(result.records_in, result.batch_uncounted_in),
        describe_count(result.records_out, result.batch_uncounted_out),
        result.state_commits,
        result.state_location,
        extra={
            "event": "job_end",
            **{k: v for k, v in result.as_dict().items() if k not in ("state", "error")},
        },
    )


def not_resumable(state: Any) -> list[str]:
    """Streams whose committed bookmark the tap marked as not resumable (singer-sdk).

    An SDK tap reading a stream it cannot assume sorted keeps its position under
    ``progress_markers`` (noted "Progress is not resumable if interrupted") and moves it to the
    stream's bookmark only when the stream ends. Stopped before that, the next run starts the
    stream over from its last completed bookmark, or from the beginning.
    """
    bookmarks = state.get("bookmarks") if isinstance(state, dict) else None
    if not isinstance(bookmarks, dict):
        return []
    found = []
    for name, value in bookmarks.items():
        if not isinstance(value, dict):
            continue
        partitions = value.get("partitions")
        parts = (
            [value, *(p for p in partitions if isinstance(p, dict))]
            if isinstance(partitions, list)
            else [value]
        )
        if any("progress_markers" in p for p in parts):
            found.append(str(name))
    return sorted(found)


def resume_hint(hint: str, state: Any) -> str:
    """``hint`` (which promises a resume), made true for streams that cannot resume."""
    streams = not_resumable(state)
    if not streams:
        return hint
    names = ", ".join(repr(n) for n in streams)
    one = len(streams) == 1
    return (
        f"{hint}, except for {'stream' if one else 'streams'} {names}: the tap marked its "
        f"progress in {'it' if one else 'them'} as not resumable (it reads unsorted), so the "
        f"next run reads {'it' if one else 'them'} again from the last completed bookmark"
    )


def build_result(
    *,
    job_id: str,
    outcome: Outcome,
    streams: Streams,
    committer: Any,  # state.StateCommitter, or None when the state could not be read
    state_key: str,
    state_location: str,
    started_at: float,
    started: bool,
    warnings: list[str],
    stages: list[StageStats],
) -> JobResult:
    """The job's result; a hint that promises a resume is corrected for streams that cannot."""
    error = outcome.error
    if error is not None and committer is not None and error.hint and "resume" in error.hint:
        error.hint = resume_hint(error.hint, committer.current)
    return JobResult(
        job_id=job_id,
        status=outcome.status,
        duration_s=time.monotonic() - started_at,
        streams=streams.stats,
        state=committer.current if committer is not None else {},
        state_key=state_key,
        state_location=state_location,
        state_commits=committer.commits if committer is not None else 0,
        error=error,
        started=started,
        warnings=warnings,
        stages=stages,
    )
