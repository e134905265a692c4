"""Wiring one job: tap process -> stages -> target processes -> confirmed STATE -> state store.

Threads and their jobs:

- the calling thread pumps: it reads the tap's stdout line by line, parses each line once,
  pushes the messages through the stages and writes them to every target's stdin;
- one thread per target reads the target's stdout for the STATE lines it emits after flushing,
  and commits a STATE once every target has confirmed it;
- one thread per process relays its stderr to the log (see process.py);
- with external mappers (mappers.py), a feeder thread reads the tap and writes what the stages
  before the mappers pass into the first mapper, and the calling thread pumps the last
  mapper's output instead of the tap's;
- BATCH files are counted in a thread of their own (batchcount.py).

Failure rules (see docs/concepts.md): tap fails -> targets' input is closed, they flush, their
last confirmed STATE is committed, the job fails. A target fails -> the tap is stopped and nothing
further is committed. SIGINT/SIGTERM/SIGHUP -> forwarded to the tap (as SIGTERM), and the job
drains the same way.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from glue_runtime import protocol
from glue_runtime.batchcount import BatchCounter
from glue_runtime.connectors import validate_config
from glue_runtime.errors import (
    ConfigError,
    ConnectorError,
    ConnectorTimeout,
    GlueError,
    Interrupted,
    NestedTooDeep,
    RecordBeforeSchema,
    TapFailed,
    TargetFailed,
)
from glue_runtime.flushing import FlushSoon
from glue_runtime.mappers import MapperChain
from glue_runtime.process import (
    ConnectorFiles,
    ConnectorProcess,
    remove_stale_folders,
    skip_rest_of_line,
)
from glue_runtime.protocol import BATCH, RECORD, SCHEMA, STATE, Message
from glue_runtime.result import JobResult, StreamStats, describe_count
from glue_runtime.secrets import Redactor, secret_values
from glue_runtime.spec import JobSpec, job_secrets
from glue_runtime.stages.stats import collect as collect_stage_stats
from glue_runtime.state import StateCommitter
from glue_runtime.timeouts import describe

log = logging.getLogger("glue_runtime.job")
_DRAIN_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _PrunedKeys:
    """A fixed-size Bloom filter of the STATE values dropped from memory while in flight.

    A target confirming a value that may have been dropped cannot be matched to its send: the
    value may be an earlier send of one still held. False positives only withhold credit, which
    is safe; the filter costs 1 MiB however many values pass through it.
    """

    BITS = 1 << 23  # positions are 23-bit slices of the key's hash

    def __init__(self) -> None:
        self.bits = bytearray(self.BITS // 8)
        self.through = -1  # the highest index dropped so far

    @staticmethod
    def _positions(key: bytes) -> tuple[int, int, int]:
        h = hash(key)  # 64 bits, salted per process: three overlapping 23-bit slices
        return h & 0x7FFFFF, (h >> 20) & 0x7FFFFF, (h >> 40) & 0x7FFFFF

    def add(self, index: int, key: bytes) -> None:
        bits = self.bits
        a, b, c = self._positions(key)
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)
        bits[c >> 3] |= 1 << (c & 7)
        self.through = index

    def may_hold(self, key: bytes) -> bool:
        bits = self.bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))

    def clear(self) -> None:
        self.bits = bytearray(self.BITS // 8)
        self.through = -1


class _Confirmations:
    """Tracks which STATE each target has confirmed; commits what all of them have.

    STATE values sent to targets are numbered in order. A target confirms a STATE by emitting
    it (after flushing the data before it); the job commits the newest STATE every target has
    confirmed. A value a target emits that the job never sent (a JSON log line, say) confirms
    nothing, and neither does a repeat of the value it confirmed last. A value sent more than
    once confirms its next send after the target's last confirmation, never a later one.
    Committed sends are forgotten, so memory holds only the STATEs still in flight; past
    MAX_PENDING the oldest are dropped, and a value that may be one of those earns no credit.
    """

    MAX_PENDING = 10_000  # sends kept for targets that confirm rarely; older ones are dropped

    def __init__(
        self,
        committer: StateCommitter,
        n_targets: int,
        write_interval_s: float = 0.0,
        on_write_error: Callable[[GlueError], None] | None = None,
    ) -> None:
        self.committer = committer
        self.n_targets = n_targets
        self.write_interval_s = write_interval_s
        self.on_write_error = on_write_error
        self.last_write = -float("inf")
        self.timer: threading.Timer | None = None
        self.lock = threading.Lock()
        self.pending: deque[tuple[int, bytes]] = deque()  # (index, key), oldest first
        self.indices: dict[bytes, deque[int]] = {}  # canonical value -> its pending indices
        self.sends = 0
        self.confirmed = [-1] * n_targets
        self.confirmed_value: list[Any] = [None] * n_targets
        self.last_key: list[bytes | None] = [None] * n_targets
        self.committed_index = -1
        self.pruned = _PrunedKeys()
        self.frozen = False  # set when a target fails: nothing further is committed

    def sent_state(self, value: Any) -> None:
        key = protocol.canonical(value)
        with self.lock:
            index = self.sends
            self.sends = index + 1
            self.pending.append((index, key))
            sends = self.indices.get(key)
            if sends is None:
                self.indices[key] = deque((index,))
            else:
                sends.append(index)
            if len(self.pending) > self.MAX_PENDING:
                old_index, old_key = self._drop_oldest()
                self.pruned.add(old_index, old_key)

    def target_emitted(self, target_index: int, value: Any) -> bool:
        """Credit a target with the STATE it emitted; False if the job never sent that value."""
        key = protocol.canonical(value)
        with self.lock:
            if self.frozen or key == self.last_key[target_index]:
                return True  # some targets repeat their last state: it confirms nothing new
            after = self.confirmed[target_index]
            if after < self.pruned.through and self.pruned.may_hold(key):
                return True  # may be a send no longer held: no credit rather than wrong credit
            sends = self.indices.get(key)
            if not sends or sends[-1] <= after:
                return False
            index = sends[bisect.bisect_right(sends, after)]
            self.confirmed[target_index] = index
            self.confirmed_value[target_index] = value
            self.last_key[target_index] = key
            low = min(self.confirmed)
            if low > self.committed_index:
                self.committer.stage(self.confirmed_value[self.confirmed.index(low)])
                self.committed_index = low
                self._write_or_schedule()
                while self.pending and self.pending[0][0] <= low:
                    self._drop_oldest()
                if low >= self.pruned.through >= 0:
                    self.pruned.clear()  # every target is past everything dropped
            return True

    def _write_or_schedule(self) -> None:
        """Write now if the last write is old enough, else once the interval has passed."""
        wait = self.last_write + self.write_interval_s - time.monotonic()
        if wait <= 0:
            self._write()  # may raise StateError
        elif self.timer is None:
            self.timer = threading.Timer(wait, self._timed_write)
            self.timer.daemon = True
            self.timer.start()

    def _write(self) -> None:
        self.committer.write()
        self.last_write = time.monotonic()

    def _timed_write(self) -> None:
        try:
            with self.lock:
                self.timer = None
                self._write()
        except GlueError as exc:
            if self.on_write_error is not None:
                self.on_write_error(exc)

    def finish(self) -> None:
        """Write what was confirmed and is not yet written (a failed job keeps it too)."""
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self._write()

    def _drop_oldest(self) -> tuple[int, bytes]:
        index, key = self.pending.popleft()
        sends = self.indices[key]
        sends.popleft()
        if not sends:
            del self.indices[key]
        return index, key

    def freeze(self) -> None:
        # No lock: a signal handler calls this, possibly while this thread holds the lock.
        self.frozen = True


class Job:
    """One run of a tap into targets. Build it from a JobSpec, call :meth:`run`."""

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self.streams: dict[str, StreamStats] = {}
        self.redactor = Redactor()
        self._error: GlueError | None = None
        self._error_lock = threading.RLock()  # re-entrant: the signal handler takes it too
        self._interrupted = 0
        self._tap: ConnectorProcess | None = None
        self._targets: list[ConnectorProcess] = []
        self._files: list[ConnectorFiles] = []
        self._chain: MapperChain | None = None
        self._batches = BatchCounter()  # rows of the files BATCH messages name
        self._pumping = False
        self._pump_done = threading.Event()
        self._done = threading.Event()
        self._timed_out: set[int] = set()  # pids of connectors stopped by a timeout
        self._stop_asked_at: float | None = None  # when a signal asked the tap to stop
        self._readers: list[threading.Thread] = []
        self._last: tuple[Message | None, bytes] = (None, b"")
        self._line_no = 0  # the tap's output line being handled
        self._phase = "setup"  # -> "running" (connectors may run) -> "finished"
        self._old_handlers: dict[int, Any] = {}
        self._ignored_lines = [0] * len(spec.targets)  # per target: stdout lines not credited
        self.warnings: list[str] = []  # for the summary and JobResult.warnings

    # -- error bookkeeping -------------------------------------------------------------------
    def _fail(self, error: GlueError) -> None:
        """Keep the first cause; later failures are usually its consequences.

        The message is redacted here, as it may quote a connector's output (a malformed line).
        """
        with self._error_lock:
            if self._error is None:
                if self.redactor:
                    error.message = self.redactor.redact(error.message)
                    error.args = (error.message,)
                    if error.hint:
                        error.hint = self.redactor.redact(error.hint)
                self._error = error

    def _fail_state(self, error: GlueError) -> None:
        """A state write failed: the job's error, or an addition to the error it already has.

        A tap failure recorded first says its last confirmed state was committed; when that
        write then fails, the report must say so rather than keep the claim.
        """
        with self._error_lock:
            first = self._error
            if first is None or first is error:
                self._fail(error)
                return
            message = self.redactor.redact(error.message) if self.redactor else error.message
            if message in first.message:
                return  # the same write failing again at the end
            log.error("%s", message)
            first.message = f"{first.message}\n  and then: {message}"
            first.args = (first.message,)

    # -- set-up ------------------------------------------------------------------------------
    def _collect_secrets(self) -> None:
        self.redactor.add(job_secrets(self.spec))

    def _validate(self) -> None:
        if not self.spec.validate_configs:
            return
        for ep in (self.spec.tap, *self.spec.mappers, *self.spec.targets):
            validate_config(ep.connector, ep.config)

    def _env(self) -> dict[str, str] | None:
        if not self.spec.env:
            return None
        return {**os.environ, **self.spec.env}

    def _start_targets(self) -> None:
        for i, ep in enumerate(self.spec.targets):
            files = ConnectorFiles(ep.label)
            self._files.append(files)
            cfg = files.write_json("config.json", ep.config)
            label = ep.label if len(self.spec.targets) == 1 else f"{ep.label}[{i}]"
            proc = ConnectorProcess(
                label,
                [*ep.connector.argv, "--config", str(cfg)],
                stdin=True,
                redactor=self.redactor,
                env=self._env(),
                cwd=self.spec.cwd,
            )
            self._targets.append(proc)

    def _start_tap(self, tap_state: dict[str, Any]) -> None:
        ep = self.spec.tap
        files = ConnectorFiles(ep.label)
        self._files.append(files)
        self._tap_files = files
        argv = [*ep.connector.argv, "--config", str(files.write_json("config.json", ep.config))]
        if self.spec.catalog is not None:
            path = files.write_json("catalog.json", self.spec.catalog)
            argv += [ep.connector.catalog_flag(), str(path)]
        if tap_state and ep.connector.accepts_state():
            argv += ["--state", str(files.write_json("state.json", tap_state))]
        self._tap = ConnectorProcess(
            ep.label, argv, stdin=False, redactor=self.redactor, env=self._env(), cwd=self.spec.cwd
        )

    def _keep_updated_tap_config(self) -> None:
        """Keep what a tap wrote back into its config (a rotated OAuth refresh token, say).

        Taps such as the bundled rest tap save refreshed credentials into the file given with
        --config, as hotglue's taps do. That file is our temporary copy, so carry the change
        over to the config's source file; with an inline config, say it could not be kept.
        """
        ep = self.spec.tap
        try:
            updated = self._tap_files.read_json("config.json")
        except (OSError, ValueError):
            return
        if updated == ep.config or not isinstance(updated, dict):
            return
        changed = sorted(k for k in updated if updated.get(k) != ep.config.get(k))
        self.redactor.add(secret_values(updated, ep.connector.secret_settings()))
        source = self.spec.tap_config_source
        if source is None:
            log.warning(
                "%s updated its config (%s) but the config was given inline, so the update "
                "is lost; give the tap's config as a file (config_file:) to keep it",
                ep.label,
                ", ".join(changed),
            )
            return
        from glue_runtime.state import write_json_atomic

        path = Path(source)
        try:
            on_disk = protocol.loads_exact(path.read_bytes())  # its numbers stay exact
        except (OSError, ValueError):
            on_disk = {}
        on_disk.update({k: updated[k] for k in changed})
        try:
            write_json_atomic(path, on_disk)
        except OSError as exc:
            self._fail(
                ConfigError(
                    f"{ep.label} updated its config ({', '.join(changed)}) but the update could "
                    f"not be saved to {source}: {exc.strerror or exc}",
                    hint="make that file writable; credentials the tap rotated (a refresh token, "
                    "say) are otherwise lost, and the connection may need authorising again",
                )
            )
            return
        ep.config = updated
        log.info("%s updated its config (%s); saved to %s", ep.label, ", ".join(changed), source)

    # -- the pump ----------------------------------------------------------------------------
    def _tap_messages(self, tap: ConnectorProcess, committer: StateCommitter) -> Iterator[Message]:
        """Parse the tap's stdout once per line; count RECORDs and SCHEMAs per stream."""
        readline = tap.stdout.readline
        limit = self.spec.max_line_bytes
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        redactor = self.redactor

        def parse(line: bytes, *, source: str, line_no: int) -> Message:
            return protocol.parse_line(line, source=source, line_no=line_no, redactor=redactor)

        label = tap.label
        streams = self.streams
        full_refresh = self.spec.full_refresh
        needs_exact = protocol.needs_exact
        line_no = 0
        while True:
            line = readline(limit + 1)
            if not line:
                return
            line_no += 1
            self._line_no = line_no  # for errors a stage raises about this line's message
            if len(line) > limit and line[-1:] != b"\n":
                protocol.check_length(line, limit, source=label, line_no=line_no, redactor=redactor)
            try:
                # Numbers a float cannot hold (one cheap byte check) take the exact parse.
                msg = loads(line) if not needs_exact(line) else protocol.loads_line(line)
            except decode_error:
                if line.isspace():
                    continue
                try:  # a number too big for a float (1E+400) fails orjson: the exact parse
                    msg = protocol.loads_line(line)
                except decode_error:
                    parse(line, source=label, line_no=line_no)  # raises the descriptive error
                    raise
            # Fast paths: a RECORD of a stream already seen, a STATE. Anything else takes the
            # full validation in parse_line (one more parse, for the rarer lines).
            mtype = msg.get("type") if type(msg) is dict else None
            if mtype == RECORD:
                stream = msg.get("stream")
                stats = streams.get(stream) if type(stream) is str else None
                if stats is None or type(msg.get("record")) is not dict:
                    msg = parse(line, source=label, line_no=line_no)
                    stats = streams.get(msg["stream"]) or self._new_stream(msg["stream"])
                stats.records_in += 1
            elif mtype == STATE and "value" in msg:
                pass  # nothing more to check; its numbers were parsed exactly above
            else:
                raw_type = mtype
                msg = parse(line, source=label, line_no=line_no)
                mtype = msg["type"]
                if mtype == SCHEMA:
                    name = msg["stream"]
                    stats = streams.get(name) or self._new_stream(name)
                    stats.schemas += 1
                    # Only the stream's first SCHEMA: taps re-send it, and a bookmark this
                    # run has already committed for the stream must stay.
                    if full_refresh and stats.schemas == 1:
                        with self._confirm.lock:
                            committer.mark_full_refresh(name)
                elif mtype == BATCH:
                    self._batches.read(msg)
                if mtype != raw_type:  # "record" -> "RECORD": the tap's bytes cannot go out
                    self._last = (None, b"")
                    yield msg
                    continue
            self._last = (msg, line)
            yield msg

    def _new_stream(self, name: str) -> StreamStats:
        stats = StreamStats(name=name, started_at=time.monotonic())
        self.streams[name] = stats
        log.info("stream %s: started", name, extra={"stream": name, "event": "stream_start"})
        return stats

    def _pump(self, tap: ConnectorProcess, committer: StateCommitter) -> None:
        messages: Iterator[Message] = self._tap_messages(tap, committer)
        for stage in self.spec.stages:
            messages = stage(messages)
        source: Any = self  # what parsed the messages last: its _last is (message, its line)
        chain = self._chain
        if chain is not None:
            # A feeder thread writes the stages' output into the mappers (it reads the tap, and
            # only it sets self._last); this thread reads what the last mapper writes.
            chain.feed(messages, self._last_parsed, lambda exc: self._feed_failed(tap, exc))
            messages = chain.messages()
            source = chain
            for stage in self.spec.after_mappers:
                messages = stage(messages)
        writers = [t.stdin.write for t in self._targets]
        push = FlushSoon([t.stdin for t in self._targets])
        single = writers[0] if len(writers) == 1 else None
        dumps = orjson.dumps
        newline = orjson.OPT_APPEND_NEWLINE
        confirm = self._confirm
        streams = self.streams
        batch_sent = self._batches.sent
        out_counts: dict[str, int] = {}
        with_schema: set[str] = set()  # streams whose SCHEMA went to the targets
        current = 0  # the target being written to, to name it if its pipe breaks
        try:
            for msg in messages:
                mtype = msg["type"]
                if mtype == RECORD:
                    name = msg["stream"]
                    n = out_counts.get(name)
                    if n is None:  # the stream's first record out
                        n = 0
                        if name not in with_schema:
                            self._schema_less(name)
                    out_counts[name] = n + 1
                elif mtype == STATE:
                    confirm.sent_state(msg["value"])
                elif mtype == BATCH:
                    batch_sent(msg)
                elif mtype == SCHEMA:
                    with_schema.add(msg["stream"])
                # A message the stages passed through unchanged goes out as the tap's own bytes.
                last_msg, last_line = source._last
                if msg is last_msg:
                    data = last_line if last_line.endswith(b"\n") else last_line + b"\n"
                else:
                    try:
                        data = dumps(msg, option=newline)
                    except TypeError:  # an integer over 64 bits, say: the exact, slower path
                        data = protocol.dump(msg)
                if single is not None:
                    single(data)
                else:
                    for current, write in enumerate(writers):  # noqa: B007 (named on failure)
                        write(data)
                if mtype == STATE:
                    push.soon()  # so the targets can confirm it while the tap runs on
        except (BrokenPipeError, ConnectionResetError):
            self._on_target_gone(current)
        finally:
            for name, n in out_counts.items():
                stats = streams.get(name) or self._new_stream(name)
                stats.records_out += n

    def _count_batches(self) -> None:
        """Add the rows of the BATCH files read and sent to the streams' counts."""
        read, sent = self._batches.finish()
        for name, c in read.items():
            stats = self.streams.get(name) or self._new_stream(name)
            stats.records_in += c.rows
            stats.batch_files_in += c.files
            stats.batch_uncounted_in += c.uncounted
        for name, c in sent.items():
            stats = self.streams.get(name) or self._new_stream(name)
            stats.records_out += c.rows
            stats.batch_files_out += c.files
            stats.batch_uncounted_out += c.uncounted

    def _last_parsed(self) -> tuple[Message | None, bytes]:
        return self._last

    # -- mappers -----------------------------------------------------------------------------
    def _start_mappers(self) -> None:
        self._chain = MapperChain(
            self.spec.mappers,
            redactor=self.redactor,
            env=self._env(),
            cwd=self.spec.cwd,
            max_line_bytes=self.spec.max_line_bytes,
            files=self._files,
            on_failure=self._mapper_failed,
        )
        self._chain.start()

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
        self._confirm.freeze()
        self._fail(error)
        if self._tap is not None:
            self._tap.stop(grace=5)

    def _schema_less(self, stream: str) -> None:
        """A stream's first RECORD goes to the targets before any SCHEMA of it: say so, once.

        The Singer spec lets a RECORD come without a schema, so it is passed on; a stage that
        needs the schema (an ETL script, maps) fails on it instead (RecordBeforeSchema).
        """
        text = (
            f"{self.spec.tap.label}: line {self._line_no}: RECORD for stream {stream!r} came "
            "before any SCHEMA for it; passed on without a schema (a target that needs one "
            "will refuse it)"
        )
        log.warning("%s", text, extra={"stream": stream, "event": "schema_less_record"})
        self.warnings.append(text)

    def _on_target_gone(self, index: int) -> None:
        """The pipe to target ``index`` broke: it exited, or closed its input."""
        target = self._targets[index]
        try:
            code: int | None = target.proc.wait(2)
        except subprocess.TimeoutExpired:
            code = None
        self._target_failed(index, code, stopped_reading=True)

    def _target_failed(self, index: int, code: int | None, stopped_reading: bool = False) -> None:
        target = self._targets[index]
        self._confirm.freeze()
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
        if self._tap is not None:
            self._tap.stop(grace=5)

    # -- target output -----------------------------------------------------------------------
    def _read_target(self, index: int) -> None:
        """Credit the STATEs a target emits, one stdout line at a time.

        A line has the bound a tap's line has (--max-line-bytes, 64 MiB by default): a STATE
        the job sent fits in it, and so do the result STATEs of targets built on hotglue's SDK
        (every record's outcome: a few MB for a run of 100,000 records). A longer line could
        not confirm anything, so it is read and dropped in pieces instead of held whole.
        """
        target = self._targets[index]
        readline = target.stdout.readline
        limit = self.spec.max_line_bytes
        line_no = 0
        while line := readline(limit + 1):
            line_no += 1
            if len(line) > limit and line[-1:] != b"\n":
                self._drop_long_target_line(target, line, line_no, readline)
                continue
            if line.isspace():
                continue
            try:
                self._credit_target(index, line, line_no)
            except GlueError as exc:  # the state file could not be written
                self._stop_committing(exc)
            except Exception as exc:  # keep draining its stdout, or the target blocks on it
                log.exception("internal error while reading %s's output", target.label)
                self._stop_committing(GlueError(f"internal error in glue_runtime: {exc!r}"))
        # stdout closed: the target has exited (or is about to). While the tap is still being
        # pumped that is too early, even with code 0, and even when the tap is idle.
        code = target.proc.wait()
        if self._pumping:
            self._target_failed(index, code, stopped_reading=code == 0)

    def _drop_long_target_line(
        self, target: ConnectorProcess, head: bytes, line_no: int, readline: Any
    ) -> None:
        """Skip a target's stdout line over the bound: it confirms nothing, memory stays bounded."""
        size = len(head) + skip_rest_of_line(readline)
        start = self.redactor.redact(head[:4096].decode("utf-8", "replace"))
        log.warning(
            "%s: stdout line %d is %s bytes, over the %s bytes a line may have "
            "(--max-line-bytes); ignored, it confirms nothing: %s",
            target.label,
            line_no,
            f"{size:,}",
            f"{len(head) - 1:,}",
            repr(protocol.excerpt(start)),
        )

    def _credit_target(self, index: int, line: bytes, line_no: int) -> None:
        target = self._targets[index]
        value = protocol.target_state(line)
        if value is None:
            what = "is not a state"
        else:
            try:
                if self._confirm.target_emitted(index, value):
                    return
                what = "is not a STATE this job sent"
            except NestedTooDeep:  # the job cannot have sent it: each STATE sent was written
                what = "is nested too deep to be a STATE this job sent"
        self._ignored_lines[index] += 1
        log.warning(
            "%s: stdout line %d %s; ignored: %s",
            target.label,
            line_no,
            what,
            repr(protocol.excerpt(line, redactor=self.redactor)),
        )

    def _write_confirmed_state(self) -> None:
        try:
            self._confirm.finish()
        except GlueError as exc:
            self._fail_state(exc)

    def _stop_committing(self, error: GlueError) -> None:
        self._confirm.freeze()
        self._fail_state(error)
        if self._tap is not None:
            self._tap.stop(grace=5)

    # -- signals -----------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self._phase == "setup":  # nothing started yet: as if the job had not begun
            self._outside_job(signum, frame)
            return
        if self._phase == "finished":
            # The targets are done and the state is written: the job's outcome stands. Finish
            # the clean-up (temp folders hold connector configs) and the report.
            with contextlib.suppress(RuntimeError, OSError):  # a log write it interrupted
                log.warning("%s received after the job finished: finishing its clean-up", name)
            return
        self._interrupted += 1
        if self._interrupted == 1:
            log.warning("%s received: stopping the tap and draining the targets", name)
            self._fail(
                Interrupted(
                    f"interrupted by {name}; the targets drained and the state holds what "
                    "they confirmed",
                    hint="run again to resume from the committed state",
                )
            )
            self._stop_asked_at = time.monotonic()  # the tap has `drain` seconds to stop
            if self._tap is not None:
                self._tap.signal(signal.SIGTERM)
        else:
            log.warning("%s received again: terminating every connector", name)
            self._confirm.freeze()
            mappers = self._chain.procs if self._chain is not None else []
            for p in (self._tap, *mappers, *self._targets):
                if p is not None:
                    p.signal(signal.SIGKILL if self._interrupted > 2 else signal.SIGTERM)

    def _outside_job(self, signum: int, frame: Any) -> None:
        """Handle a signal the way the process did before the job installed its handler."""
        old = self._old_handlers.get(signum, signal.SIG_DFL)
        if callable(old):
            old(signum, frame)  # SIGINT's default raises KeyboardInterrupt
        elif old == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """Own SIGINT, SIGTERM and SIGHUP for the whole run, clean-up and summary included.

        Before the connectors start (phase "setup") a signal acts as it did before the job;
        while they run it drains the job; once the job has finished it is logged and the
        clean-up goes on (a signal there used to leave the temp folder and no summary).
        """
        if threading.current_thread() is not threading.main_thread():
            yield  # embedded in a thread: the host application owns signal handling
            return
        # SIGHUP (the terminal closed, an ssh session dropped) drains like SIGTERM
        self._old_handlers = {s: signal.signal(s, self._on_signal) for s in _DRAIN_SIGNALS}
        try:
            yield
        finally:
            for s, h in self._old_handlers.items():
                signal.signal(s, h)

    def _progress_loop(self) -> None:
        callback = self.spec.on_progress
        assert callback is not None
        start = time.monotonic()
        while not self._done.wait(self.spec.progress_interval_s):
            with contextlib.suppress(Exception):
                callback(self.streams, time.monotonic() - start)

    # -- the whole run -----------------------------------------------------------------------
    jobs_started = 0  # jobs whose connectors this process started (the CLI words interrupts by it)

    def run(self) -> JobResult:
        with self._signals():
            return self._run()

    def _run(self) -> JobResult:
        spec = self.spec
        started = time.monotonic()
        committer: StateCommitter | None = None
        try:
            committer = StateCommitter(  # reads the state file
                spec.store, spec.state_key, on_lease_lost=self._stop_committing
            )
            self._confirm = _Confirmations(
                committer, len(spec.targets), spec.state_write_interval_s, self._stop_committing
            )
            self._collect_secrets()
            self._validate()
            remove_stale_folders()  # configs, credentials included, of runs killed with -9
            lock = committer.locked() if spec.hold_lock else committer.joined()
            with lock:
                self._phase = "running"
                Job.jobs_started += 1
                try:
                    self._run_locked(committer)
                finally:
                    self._write_confirmed_state()
                    self._phase = "finished"
        except GlueError as exc:
            self._fail(exc)
        finally:
            self._phase = "finished"
            self._done.set()
            self._close_pipes()
            for files in self._files:
                files.cleanup()
        self._count_batches()
        error = self._error
        status = "success"
        if error is not None:
            status = "interrupted" if isinstance(error, Interrupted) else "failed"
            if committer is not None and error.hint and "resume" in error.hint:
                error.hint = resume_hint(error.hint, committer.current)
        if spec.select_stats is not None:
            for name, n in spec.select_stats.unknown_fields.items():
                if name in self.streams:
                    self.streams[name].dropped_fields = n
            for line in spec.select_stats.summary_lines():
                log.warning("%s", line)
        if status == "success" and spec.expect_state_confirmations:
            self._check_state_moved()
        result = JobResult(
            job_id=spec.job_id,
            status=status,
            duration_s=time.monotonic() - started,
            streams=self.streams,
            state=committer.current if committer is not None else {},
            state_key=spec.state_key,
            state_location=spec.store.location(spec.state_key),
            state_commits=committer.commits if committer is not None else 0,
            error=error,
            started=self._tap is not None or bool(self._targets),
            warnings=self.warnings,
            stages=collect_stage_stats([*spec.stages, *spec.after_mappers]),
        )
        if result.started:  # a config error ran nothing: its message says all there is
            self._log_summary(result)
        return result

    def _check_state_moved(self) -> None:
        """Warn when the tap sent STATE but a target confirmed none of it in the whole run.

        The job still succeeds (the data arrived), but its bookmarks did not move: the next
        run reads the same data again. A user must hear that, and why.
        """
        confirm = self._confirm
        if confirm.sends == 0 or confirm.committed_index >= 0:
            return
        silent = [i for i, c in enumerate(confirm.confirmed) if c < 0]
        why = []
        for i in silent:
            label = self._targets[i].label if i < len(self._targets) else f"target {i}"
            ignored = self._ignored_lines[i]
            if ignored:
                why.append(
                    f"{label} wrote {ignored} stdout line(s), none of them a STATE this job sent"
                )
            else:
                why.append(f"{label} emitted no state on its stdout")
        text = (
            f"bookmarks did not move: the tap sent {confirm.sends} STATE message(s) but "
            f"{'; '.join(why)}. Only STATE a target confirms is committed, so the next run "
            "starts from the same bookmarks"
        )
        hint = (
            "a Singer target confirms a STATE by writing it to its stdout once the records "
            "before it are stored; check the target's docs or settings for state output"
        )
        log.warning("%s (%s)", text, hint, extra={"event": "state_not_confirmed"})
        self.warnings.append(text)

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
        readers: list[threading.Thread] = []
        try:
            self._start_targets()
            readers = self._readers = [
                threading.Thread(target=self._read_target, args=(i,), name=f"target-{i}-stdout")
                for i in range(len(self._targets))
            ]
            for r in readers:
                r.start()
            if spec.mappers:
                self._start_mappers()
            self._start_tap(tap_state)
            self._run_started(committer, readers)
        except BaseException:
            # Whatever escaped: nothing more is committed, and no target or reader thread
            # outlives the job (the state lock is released right after this).
            self._confirm.freeze()
            if self._chain is not None:  # its feeder reads the tap: stop the tap first
                if self._tap is not None:
                    self._tap.stop(grace=5)
                self._chain.shutdown(join_s=5)
            if self._tap is not None:
                self._tap.close_stdout()
            for p in (self._tap, *self._targets):
                if p is not None:
                    p.close_stdin()
                    p.stop(grace=5)
            for r in readers:
                r.join(5)
            raise

    def _run_started(self, committer: StateCommitter, readers: list[threading.Thread]) -> None:
        spec = self.spec
        tap = self._tap
        assert tap is not None
        threading.Thread(target=self._watch_tap, args=(tap,), daemon=True).start()
        if spec.timeouts.idle or spec.timeouts.drain:
            threading.Thread(
                target=self._watch_clock, args=(tap,), name="tap-clock", daemon=True
            ).start()
        progress = None
        if spec.on_progress is not None:
            progress = threading.Thread(target=self._progress_loop, daemon=True)
            progress.start()
        self._pumping = True
        try:
            self._pump(tap, committer)
        except GlueError as exc:
            # Bad data or a failing stage: stop reading, but let the targets flush what came
            # before and commit what they confirm.
            if isinstance(exc, (RecordBeforeSchema, NestedTooDeep)):
                # Stages see messages, not lines: say which line of the tap's output it was.
                exc.message = f"{tap.label}: line {self._line_no}: {exc.message}"
                exc.args = (exc.message,)
            self._fail(exc)
            self._stop_reading(tap)
        except Exception as exc:
            log.exception("internal error while pumping messages")
            self._fail(GlueError(f"internal error in glue_runtime: {exc!r}"))
            self._stop_reading(tap)
        finally:
            if self._chain is not None:
                if not self._chain.output_done:  # the pump ended early: the feeder must end
                    tap.stop(grace=5)
                self._chain.shutdown()
            self._pumping = False
            self._pump_done.set()
            # The tap is done (or stopped): close the targets' input so they flush and exit.
            # A target that exited before its input ended, or whose input cannot be flushed,
            # did not read it all, whatever its exit code.
            unread = {i for i, t in enumerate(self._targets) if t.proc.poll() is not None}
            unread |= {i for i, t in enumerate(self._targets) if not t.close_stdin()}
        # From here every connector has `drain` seconds to finish: the tap to exit after its
        # output ended, the targets to flush their last batch, exit and close their stdout.
        drain = spec.timeouts.drain
        deadline = time.monotonic() + drain if drain else None
        tap_code = self._await_exit(tap, deadline, "its output ended")
        self._keep_updated_tap_config()
        if tap_code != 0 and self._error is None:
            self._fail(self._tap_failure(tap, tap_code))  # the cause, before its consequences
        for i, t in enumerate(self._targets):
            code = self._await_exit(t, deadline, "its input was closed")
            self._await_reader(t, readers[i], deadline)
            if code != 0 or i in unread:
                if self._error is None:
                    self._target_failed(i, code, stopped_reading=i in unread)
                else:
                    self._confirm.freeze()
                    if code != 0 and t.pid not in self._timed_out:
                        log.error("%s also failed: %s", t.label, t.describe_exit(code))

    # -- timeouts (see timeouts.py) ----------------------------------------------------------
    def _await_exit(self, p: ConnectorProcess, deadline: float | None, after: str) -> int:
        """Its exit code, once it exits; past ``deadline`` it is stopped (drain timeout)."""
        try:
            return p.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        drain = describe(self.spec.timeouts.drain or 0)
        self._stop_timed_out(
            p,
            ConnectorTimeout(
                f"{p.label} was still running {drain} after {after} (drain timeout); it was "
                "stopped. The state holds what the targets confirmed until then.\n"
                f"  last lines of its stderr:\n{p.tail()}",
                hint="if it needs longer to finish (a large last batch), raise timeouts.drain "
                "in the flow file or --timeout drain=SECONDS (0 turns it off)",
            ),
        )
        return p.wait()

    def _await_reader(
        self, target: ConnectorProcess, reader: threading.Thread, deadline: float | None
    ) -> None:
        """Wait for the end of a target's stdout: it exited, but a process it left may hold it."""
        reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if not reader.is_alive():
            return
        if target.pid not in self._timed_out:
            self._stop_timed_out(
                target,
                ConnectorTimeout(
                    f"{target.label} exited, but a process it started still held its stdout "
                    f"{describe(self.spec.timeouts.drain or 0)} after its input was closed "
                    "(drain timeout); its process group was killed.",
                    hint="make the target wait for the processes it starts, or not hand them "
                    "its stdout",
                ),
            )
        reader.join(5)

    def _stop_timed_out(self, p: ConnectorProcess, error: GlueError | None) -> None:
        """Fail the job with ``error`` (if it has no cause yet) and stop ``p`` and its group."""
        self._timed_out.add(p.pid)
        if error is not None:
            log.error("%s", error.message.split("\n", 1)[0])
            self._fail(error)
        p.stop(grace=5)
        p.kill_group()  # what it started in its session goes too

    def _watch_clock(self, tap: ConnectorProcess) -> None:
        """The tap's timeouts while the pump reads it: idle, and drain after a signal.

        Idle: no output on its stdout or stderr for ``idle`` seconds while it runs (output in
        the pipe the job has not read yet counts: then the job is the slow side). After
        SIGINT/SIGTERM the tap has ``drain`` seconds to stop before it is killed.
        """
        idle, drain = self.spec.timeouts.idle, self.spec.timeouts.drain
        tick = min(max(min(x for x in (idle, drain) if x) / 20, 0.02), 1.0)
        while not self._pump_done.wait(tick):
            now = time.monotonic()
            if _exited(tap):
                # The rest of its output is coming (or _watch_tap deals with it), unless the
                # job is stuck writing it to a target that does not read.
                if idle and now - tap.last_read >= idle and self._stalled_target(idle):
                    return
                continue
            asked = self._stop_asked_at
            if asked is not None:
                if drain and now - asked >= drain:
                    log.warning(
                        "%s did not stop within %s of being asked to (drain timeout); killing it",
                        tap.label,
                        describe(drain),
                    )
                    self._stop_timed_out(tap, None)  # the job's error stays the interruption
                    return
                continue
            if tap.output_pending():
                tap.last_activity = now
                if idle and now - tap.last_read >= idle and self._stalled_target(idle):
                    return
            elif idle and now - tap.last_activity >= idle:
                self._stop_timed_out(
                    tap,
                    ConnectorTimeout(
                        f"{tap.label} wrote nothing for {describe(idle)} (idle timeout: no line "
                        "on its stdout or stderr); it was stopped, the targets flushed what it "
                        "had sent and its last confirmed state was committed.\n"
                        f"  last lines of its stderr:\n{tap.tail()}",
                        hint="if the tap is alive but quiet that long (a slow report, a long "
                        "back-off), raise timeouts.idle in the flow file or --timeout "
                        "idle=SECONDS (0 turns it off); the next run resumes from the "
                        "committed state",
                    ),
                )
                return

    def _stalled_target(self, idle: float) -> bool:
        """The tap waits on the job, and the job has waited ``idle`` on a target that does not
        read its input (its pipe holds what was written to it): stop that target.

        Its failure then takes the usual path (the tap is stopped, nothing further committed).
        False when no target's input is pending: a stage is slow, which is not a connector's.
        """
        for t in self._targets:
            if t.proc.poll() is None and t.input_pending():
                self._confirm.freeze()
                self._stop_timed_out(
                    t,
                    ConnectorTimeout(
                        f"{t.label} read nothing of its input for {describe(idle)} (idle "
                        "timeout) while the tap waited to send more; it was stopped, and no "
                        "state past its last confirmed STATE was committed.\n"
                        f"  last lines of its stderr:\n{t.tail()}",
                        hint="if the target is alive but that slow (a long load), raise "
                        "timeouts.idle in the flow file or --timeout idle=SECONDS (0 turns it "
                        "off)",
                    ),
                )
                return True
        return False

    def _close_pipes(self) -> None:
        """Release every pipe of every connector at the job's end, not at garbage collection."""
        if self._tap is not None:
            self._tap.close()
        for i, t in enumerate(self._targets):
            reading = i < len(self._readers) and self._readers[i].is_alive()
            t.close(stdout=not reading)
        if self._chain is not None:
            self._chain.close()

    def _stop_reading(self, tap: ConnectorProcess) -> None:
        if self._chain is not None:
            tap.stop(grace=5)  # the feeder thread reads the tap: it sees the end of its output
            return
        tap.close_stdout()  # a tap blocked writing gets EPIPE instead of waiting on us
        tap.stop(grace=5)

    def _watch_tap(self, tap: ConnectorProcess) -> None:
        """End the job when the tap has exited but a process it started holds its stdout.

        Reading would never end: the pipe stays open while any process has it. Once the tap
        has exited, the pump is still waiting for the end of its output a second later, the
        pipe is drained and other processes hold its write end, those are killed. What they
        might still have written is unknown, so the job fails rather than report a full sync.
        (The tap is awaited without reaping it, so its id is not reused meanwhile.)
        """
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitid(os.P_PID, tap.pid, os.WEXITED | os.WNOWAIT)
        while not self._pump_done.wait(1.0):
            holders = tap.stdout_writers()
            if not holders:
                return  # the end of the output is coming: the pump is busy with the rest
            if tap.output_pending():
                continue
            self._fail(
                TapFailed(
                    f"{tap.label} exited, but processes it started (pids "
                    f"{', '.join(map(str, holders))}) kept its output open; they were killed. "
                    "Records they might still have written are missing; the state holds only "
                    "what the targets confirmed.",
                    hint="make the tap wait for the processes it starts, or not hand them its "
                    "stdout; then run again",
                )
            )
            tap.kill_group(also=holders)
            return

    def _tap_failure(self, tap: ConnectorProcess, code: int) -> TapFailed:
        return TapFailed(
            f"{tap.label} {tap.describe_exit(code)}; the targets flushed what "
            f"it had sent and its last confirmed state was committed.\n"
            f"  last lines of its stderr:\n{tap.tail()}",
            hint="fix the tap's error above, then run again: the next run resumes "
            "from the committed state",
        )

    def _log_summary(self, result: JobResult) -> None:
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


def _exited(p: ConnectorProcess) -> bool:
    """Whether it has exited, without reaping it (so _watch_tap can still look at its pipe)."""
    if not hasattr(os, "waitid"):  # macOS: reaping is the only way to ask
        return p.proc.poll() is not None
    try:
        return os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True  # already reaped


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


def run_job(spec: JobSpec) -> JobResult:
    """Run one job and return its result (never raises for a failed run; see raise_for_status)."""
    if not spec.targets:
        raise ConnectorError("a job needs at least one target")
    return Job(spec).run()
