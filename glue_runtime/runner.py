"""Running one job: tap process -> stages -> target processes -> confirmed STATE -> state store.

This module is the orchestrator: it builds the job's pieces from a JobSpec, runs them, and
applies the failure rules of docs/concepts.md ("When something fails"). The pieces:

==================  ==========================================================================
startup.py          starting the tap and the targets; keeping a config the tap rewrote
tapread.py          reading the tap's stdout: bounded lines, one parse each, the raw bytes
mappers.py          external mapper processes between the stages (reads them with tapread)
fanout.py           writing the stages' output to every target; flushing after a STATE
confirmations.py    which STATE each target confirmed; reading the targets' stdout; commits
supervise.py        signals, the idle/drain clock, leftover processes, awaiting exits
report.py           the job's first error, per-stream counts, progress, summary, JobResult
==================  ==========================================================================

Threads: the calling thread pumps (reads the tap, runs the stages, writes to the targets);
one thread per target reads its stdout (confirmations.TargetOutput); one per process relays
its stderr (process.py); with mappers, a feeder thread reads the tap into the first mapper and
the calling thread pumps the last mapper's output; BATCH files are counted in a thread of their
own (batchcount.py); supervise.py's watches run in threads of their own.

The failure rules, and where each is applied (the "rule" methods below, in one place):

- the tap exits non-zero: :meth:`Job._after_input_ended` (the targets' input was closed first,
  they flush and their last confirmed STATE is committed: the tap's failure is the cause);
- a target exits non-zero or stops reading: :meth:`Job._target_failed`, from the writer
  (fanout: its pipe broke), its stdout ending early (:meth:`Job._target_output_ended`) or its
  exit after the input ended (:meth:`Job._target_ended`): freeze, stop the tap;
- a mapper fails: :meth:`Job._mapper_failed` (as for a target);
- bad data or a failing stage: :meth:`Job._bad_data` (stop reading; the targets drain);
- the state file cannot be written: :meth:`Job._stop_committing` (as for a target);
- timeouts, leftover processes and signals: supervise.py (they report through ``_fail``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from glue_runtime.batchcount import BatchCounter
from glue_runtime.confirmations import Confirmations, TargetOutput, bookmarks_not_moved
from glue_runtime.connectors import validate_config
from glue_runtime.errors import (
    ConnectorError,
    GlueError,
    NestedTooDeep,
    RecordBeforeSchema,
    TapFailed,
    TargetFailed,
)
from glue_runtime.fanout import Fanout, exit_code_soon
from glue_runtime.mappers import MapperChain
from glue_runtime.process import ConnectorProcess, remove_stale_folders
from glue_runtime.protocol import Message
from glue_runtime.report import (
    Outcome,
    Streams,
    build_result,
    log_summary,
    not_resumable,
    progress_loop,
    resume_hint,
)
from glue_runtime.result import JobResult
from glue_runtime.secrets import Redactor
from glue_runtime.spec import JobSpec, job_secrets
from glue_runtime.stages.stats import collect as collect_stage_stats
from glue_runtime.startup import Launcher
from glue_runtime.state import StateCommitter
from glue_runtime.supervise import FINISHED, RUNNING, Signals, Supervisor
from glue_runtime.tapread import SingerReader

__all__ = ["Job", "not_resumable", "resume_hint", "run_job"]

log = logging.getLogger("glue_runtime.job")


class Job:
    """One run of a tap into targets. Build it from a JobSpec, call :meth:`run`."""

    jobs_started = 0  # jobs whose connectors this process started (the CLI words interrupts by it)

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self.redactor = Redactor()
        self.outcome = Outcome(self.redactor)
        self.counts = Streams()
        self.streams = self.counts.stats  # per-stream counts, by name
        self.warnings: list[str] = []  # for the summary and JobResult.warnings
        self.launcher = Launcher(spec, self.redactor)
        self.supervisor = Supervisor(spec.timeouts, fail=self._fail, freeze=self._freeze)
        self.signals = Signals(self.supervisor.interrupt)
        self.batches = BatchCounter()  # rows of the files BATCH messages name
        self.confirm: Confirmations | None = None  # once the state is read
        self.committer: StateCommitter | None = None
        self.tap: ConnectorProcess | None = None
        self.targets: list[ConnectorProcess] = self.supervisor.targets
        self.readers: list[TargetOutput] = []  # one per target: its stdout
        self.chain: MapperChain | None = None
        self.tap_reader: SingerReader | None = None
        self._pumping = False  # the tap's output is being read: a target must not end now
        self._done = threading.Event()

    # -- the whole run -----------------------------------------------------------------------
    def run(self) -> JobResult:
        with self.signals.installed():
            return self._run()

    def _run(self) -> JobResult:
        spec = self.spec
        started = time.monotonic()
        try:
            committer = self.committer = StateCommitter(  # reads the state file
                spec.store, spec.state_key, on_lease_lost=self._stop_committing
            )
            self.confirm = Confirmations(
                committer, len(spec.targets), spec.state_write_interval_s, self._stop_committing
            )
            self.redactor.add(job_secrets(spec))
            self._validate()
            remove_stale_folders()  # configs, credentials included, of runs killed with -9
            lock = committer.locked() if spec.hold_lock else committer.joined()
            with lock:
                self.signals.phase = RUNNING
                Job.jobs_started += 1
                try:
                    self._run_locked(committer)
                finally:
                    self._write_confirmed_state()
                    self.signals.phase = FINISHED
        except GlueError as exc:
            self._fail(exc)
        finally:
            self.signals.phase = FINISHED
            self._done.set()
            self._close_pipes()
            self.launcher.cleanup()
        return self._result(started)

    def _validate(self) -> None:
        if not self.spec.validate_configs:
            return
        for ep in (self.spec.tap, *self.spec.mappers, *self.spec.targets):
            validate_config(ep.connector, ep.config)

    def _run_locked(self, committer: StateCommitter) -> None:
        spec = self.spec
        tap_state = {} if spec.full_refresh else committer.base
        log.info(
            "job %s: %s -> %s (state key %r%s)",
            spec.job_id,
            " -> ".join(ep.label for ep in (spec.tap, *spec.mappers)),
            ", ".join(t.label for t in spec.targets),
            spec.state_key,
            ", full refresh" if spec.full_refresh else "",
        )
        try:
            self.launcher.start_targets(self.targets)
            self._start_target_readers()
            if spec.mappers:
                self._start_mappers()
            self.tap = self.supervisor.tap = self.launcher.start_tap(tap_state)
            self._run_started(self.tap)
        except BaseException:
            self._abort()
            raise

    def _start_target_readers(self) -> None:
        assert self.confirm is not None
        self.readers = [
            TargetOutput(
                i,
                t,
                self.confirm,
                max_line_bytes=self.spec.max_line_bytes,
                redactor=self.redactor,
                on_commit_error=self._stop_committing,
                on_closed=self._target_output_ended,
            )
            for i, t in enumerate(self.targets)
        ]
        for r in self.readers:
            r.start()

    def _start_mappers(self) -> None:
        self.chain = MapperChain(
            self.spec.mappers,
            redactor=self.redactor,
            env=self.launcher.env(),
            cwd=self.spec.cwd,
            max_line_bytes=self.spec.max_line_bytes,
            files=self.launcher.files,
            on_failure=self._mapper_failed,
        )
        self.supervisor.mappers = self.chain.procs
        self.chain.start()

    def _run_started(self, tap: ConnectorProcess) -> None:
        """The connectors run: pump the tap's output to the targets, then see each one end."""
        self.supervisor.start_watches(tap)
        if self.spec.stop is not None:
            threading.Thread(target=self._watch_stop, args=(self.spec.stop,), daemon=True).start()
        if self.spec.on_progress is not None:
            args = (self.spec.on_progress, self.counts, self.spec.progress_interval_s, self._done)
            threading.Thread(target=progress_loop, args=args, daemon=True).start()
        unread = self._pump_until_input_ends(tap)
        self._after_input_ended(tap, unread)

    def _watch_stop(self, stop: threading.Event) -> None:
        """A stop asked from another thread drains the job as the first SIGTERM does."""
        while not self._done.is_set():
            if stop.wait(0.1):
                if not self._done.is_set():
                    self.supervisor.interrupt("a stop request")
                return

    # -- the pump ----------------------------------------------------------------------------
    def _pump_until_input_ends(self, tap: ConnectorProcess) -> set[int]:
        """Pump, then close the targets' input; the targets that did not read all of it."""
        self._pumping = True
        try:
            self._pump(tap)
        except GlueError as exc:
            self._bad_data(tap, exc)
        except Exception as exc:
            log.exception("internal error while pumping messages")
            self._fail(GlueError(f"internal error in glue_runtime: {exc!r}"))
            self._stop_reading(tap)
        finally:
            unread = self._close_target_input(tap)
        return unread

    def _pump(self, tap: ConnectorProcess) -> None:
        """Tap -> stages (-> mappers -> later stages) -> every target."""
        spec = self.spec
        assert self.confirm is not None
        reader = self.tap_reader = SingerReader(
            tap.stdout,
            label=tap.label,
            max_line_bytes=spec.max_line_bytes,
            redactor=self.redactor,
            streams=self.counts.stats,
            new_stream=self.counts.new,
            on_schema=self._mark_full_refresh if spec.full_refresh else None,
            on_batch=self.batches.read,
        )
        messages: Iterator[Message] = reader.messages()
        for stage in spec.stages:
            messages = stage(messages)
        source = reader.current  # whose bytes an unchanged message goes out as
        if self.chain is not None:
            # A feeder thread writes the stages' output into the mappers (it reads the tap);
            # this thread reads what the last mapper writes.
            self.chain.feed(messages, reader.current, lambda exc: self._feed_failed(tap, exc))
            messages = self.chain.messages()
            source = self.chain.current
            for stage in spec.after_mappers:
                messages = stage(messages)
        fanout = Fanout(
            self.targets,
            on_state=self.confirm.sent_state,
            on_batch=self.batches.sent,
            on_schema_less=self._schema_less,
        )
        try:
            gone = fanout.write(messages, source)
        finally:
            self.counts.add_out(fanout.records_out)
        if gone is not None:  # its pipe broke: it exited, or closed its input
            self._target_failed(gone, exit_code_soon(self.targets[gone]), stopped_reading=True)

    def _mark_full_refresh(self, msg: Message) -> None:
        """Only the stream's first SCHEMA: taps re-send it, and a bookmark this run has already
        committed for the stream must stay."""
        name = msg["stream"]
        assert self.confirm is not None and self.committer is not None
        if self.counts.stats[name].schemas == 1:
            with self.confirm.lock:
                self.committer.mark_full_refresh(name)

    def _tap_line_no(self) -> int:
        return self.tap_reader.current.line_no if self.tap_reader is not None else 0

    def _schema_less(self, stream: str) -> None:
        """A stream's first RECORD goes to the targets before any SCHEMA of it: say so, once.

        The Singer spec lets a RECORD come without a schema, so it is passed on; a stage that
        needs the schema (an ETL script, maps) fails on it instead (RecordBeforeSchema).
        """
        text = (
            f"{self.spec.tap.label}: line {self._tap_line_no()}: RECORD for stream {stream!r} "
            "came before any SCHEMA for it; passed on without a schema (a target that needs one "
            "will refuse it)"
        )
        log.warning("%s", text, extra={"stream": stream, "event": "schema_less_record"})
        self.warnings.append(text)

    def _close_target_input(self, tap: ConnectorProcess) -> set[int]:
        """The tap is done (or stopped): close the targets' input so they flush and exit.

        A target that exited before its input ended, or whose input cannot be flushed, did not
        read it all, whatever its exit code: those are returned.
        """
        if self.chain is not None:
            if not self.chain.output_done:  # the pump ended early: the feeder must end
                tap.stop(grace=5)
            self.chain.shutdown()
        self._pumping = False
        self.supervisor.pump_done.set()
        unread = {i for i, t in enumerate(self.targets) if t.proc.poll() is not None}
        unread |= {i for i, t in enumerate(self.targets) if not t.close_stdin()}
        return unread

    def _after_input_ended(self, tap: ConnectorProcess, unread: set[int]) -> None:
        """Every connector has ``drain`` seconds from here: the tap to exit after its output
        ended, the targets to flush their last batch, exit and close their stdout."""
        supervisor = self.supervisor
        deadline = supervisor.drain_deadline()
        tap_code = supervisor.await_exit(tap, deadline, "its output ended")
        config_error = self.launcher.keep_updated_tap_config()
        if config_error is not None:
            self._fail(config_error)
        if tap_code != 0 and self.outcome.error is None:
            self._fail(_tap_failure(tap, tap_code))  # the cause, before its consequences
        for i, t in enumerate(self.targets):
            code = supervisor.await_exit(t, deadline, "its input was closed")
            supervisor.await_reader(t, self.readers[i].thread, deadline)
            if code != 0 or i in unread:
                self._target_ended(i, code, stopped_reading=i in unread)

    # -- the failure rules (docs/concepts.md, "When something fails") ------------------------
    def _fail(self, error: GlueError) -> None:
        self.outcome.fail(error)

    def _freeze(self) -> None:
        """Commit nothing further (a target, a mapper or the state store failed)."""
        if self.confirm is not None:
            self.confirm.freeze()

    def _stop_tap(self) -> None:
        if self.tap is not None:
            self.tap.stop(grace=5)

    def _bad_data(self, tap: ConnectorProcess, exc: GlueError) -> None:
        """Bad data or a failing stage: stop reading, but let the targets flush what came
        before and commit what they confirm."""
        if isinstance(exc, (RecordBeforeSchema, NestedTooDeep)):
            # Stages see messages, not lines: say which line of the tap's output it was.
            exc.message = f"{tap.label}: line {self._tap_line_no()}: {exc.message}"
            exc.args = (exc.message,)
        self._fail(exc)
        self._stop_reading(tap)

    def _stop_reading(self, tap: ConnectorProcess) -> None:
        if self.chain is not None:
            tap.stop(grace=5)  # the feeder thread reads the tap: it sees the end of its output
            return
        tap.close_stdout()  # a tap blocked writing gets EPIPE instead of waiting on us
        tap.stop(grace=5)

    def _feed_failed(self, tap: ConnectorProcess, exc: BaseException) -> None:
        """The tap's output or a stage before the mappers failed (in the feeder thread).

        As without mappers: stop reading, and let what came before drain to the targets.
        """
        if isinstance(exc, GlueError):
            self._fail(exc)
        else:
            log.error("internal error while feeding the mappers", exc_info=exc)
            self._fail(GlueError(f"internal error in glue_runtime: {exc!r}"))
        tap.close_stdout()  # this thread is the tap's reader
        tap.stop(grace=5)

    def _mapper_failed(self, error: GlueError) -> None:
        """A mapper failed: like a target failing, stop the tap and commit nothing further."""
        self._freeze()
        self._fail(error)
        self._stop_tap()

    def _target_output_ended(self, index: int, code: int) -> None:
        """A target closed its stdout and exited: while the tap is still being pumped that is
        too early, even with code 0, and even when the tap is idle."""
        if self._pumping:
            self._target_failed(index, code, stopped_reading=code == 0)

    def _target_ended(self, index: int, code: int, *, stopped_reading: bool) -> None:
        """A target exited non-zero, or before reading all its input, after the pump ended.

        The first failure is the job's; when the job failed already (the tap, say) this one
        is its consequence: nothing further is committed, and it is logged.
        """
        if self.outcome.error is None:
            self._target_failed(index, code, stopped_reading=stopped_reading)
            return
        self._freeze()
        target = self.targets[index]
        if code != 0 and target.pid not in self.supervisor.timed_out:
            log.error("%s also failed: %s", target.label, target.describe_exit(code))

    def _target_failed(self, index: int, code: int | None, stopped_reading: bool = False) -> None:
        """A target failed: commit nothing further, report it, stop the tap."""
        target = self.targets[index]
        self._freeze()
        if code is None:
            how = "stopped reading its input"
        elif code == 0 and stopped_reading:
            how = "stopped reading its input (it exited with code 0 before the end of it)"
        else:
            how = target.describe_exit(code)
        self._fail(
            TargetFailed(
                f"{target.label} {how}; no state past its last confirmed STATE was "
                f"committed.\n  last lines of its stderr:\n{target.tail()}",
                hint="fix the target's error above, then run again: the next run resumes "
                "from the last committed state",
            )
        )
        self._stop_tap()

    def _stop_committing(self, error: GlueError) -> None:
        """The state store failed: commit nothing further, report it, stop the tap."""
        self._freeze()
        self.outcome.fail_state(error)
        self._stop_tap()

    def _write_confirmed_state(self) -> None:
        """Write what was confirmed and not yet written (a failed job keeps it too)."""
        if self.confirm is None:
            return
        try:
            self.confirm.finish()
        except GlueError as exc:
            self.outcome.fail_state(exc)

    def _abort(self) -> None:
        """Whatever escaped: nothing more is committed, and no target or reader thread outlives
        the job (the state lock is released right after this)."""
        self._freeze()
        if self.chain is not None:  # its feeder reads the tap: stop the tap first
            self._stop_tap()
            self.chain.shutdown(join_s=5)
        if self.tap is not None:
            self.tap.close_stdout()
        for p in (self.tap, *self.targets):
            if p is not None:
                p.close_stdin()
                p.stop(grace=5)
        for r in self.readers:
            r.thread.join(5)

    # -- the end -----------------------------------------------------------------------------
    def _close_pipes(self) -> None:
        """Release every pipe of every connector at the job's end, not at garbage collection."""
        if self.tap is not None:
            self.tap.close()
        for i, t in enumerate(self.targets):
            reading = i < len(self.readers) and self.readers[i].thread.is_alive()
            t.close(stdout=not reading)
        if self.chain is not None:
            self.chain.close()

    def _result(self, started: float) -> JobResult:
        spec = self.spec
        self.counts.add_batches(*self.batches.finish())
        if spec.select_stats is not None:
            self.counts.add_select_stats(spec.select_stats)
        if self.outcome.error is None and spec.expect_state_confirmations:
            self._check_state_moved()
        result = build_result(
            job_id=spec.job_id,
            outcome=self.outcome,
            streams=self.counts,
            committer=self.committer,
            state_key=spec.state_key,
            state_location=spec.store.location(spec.state_key),
            started_at=started,
            started=self.tap is not None or bool(self.targets),
            warnings=self.warnings,
            stages=collect_stage_stats([*spec.stages, *spec.after_mappers]),
        )
        if result.started:  # a config error ran nothing: its message says all there is
            log_summary(result)
        return result

    def _check_state_moved(self) -> None:
        """Warn when the tap sent STATE but a target confirmed none of it in the whole run."""
        if self.confirm is None:
            return
        text = bookmarks_not_moved(
            self.confirm,
            [t.label for t in self.targets],
            [r.ignored_lines for r in self.readers],
        )
        if text is None:
            return
        hint = (
            "a Singer target confirms a STATE by writing it to its stdout once the records "
            "before it are stored; check the target's docs or settings for state output"
        )
        log.warning("%s (%s)", text, hint, extra={"event": "state_not_confirmed"})
        self.warnings.append(text)


def _tap_failure(tap: ConnectorProcess, code: int) -> TapFailed:
    return TapFailed(
        f"{tap.label} {tap.describe_exit(code)}; the targets flushed what "
        f"it had sent and its last confirmed state was committed.\n"
        f"  last lines of its stderr:\n{tap.tail()}",
        hint="fix the tap's error above, then run again: the next run resumes "
        "from the committed state",
    )


def run_job(spec: JobSpec) -> JobResult:
    """Run one job and return its result (never raises for a failed run; see raise_for_status)."""
    if not spec.targets:
        raise ConnectorError("a job needs at least one target")
    return Job(spec).run()
