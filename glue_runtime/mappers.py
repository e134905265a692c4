"""External Singer mappers: executables between the field map and the ETL stage.

A mapper (meltano-map-transform, pipelinewise-transform-field, a ``mapper-NAME`` executable)
reads Singer lines on stdin and writes Singer lines on stdout. The chain runs each one as a
subprocess, piped straight into the next::

    tap -> selector -> [feeder thread] -> mapper 1 | mapper 2 | ... -> [the pump] -> ETL -> targets

A feeder thread writes the messages coming out of the earlier stages to the first mapper's
stdin; the job's pump parses the last mapper's stdout, and the later stages and the targets
see those messages as they would see a tap's.

STATE must pass through unchanged and in order (meltano-map-transform and singer-sdk mappers
do so). A STATE the last mapper writes that is not one the chain was fed (altered, or made up)
is dropped with a warning: it is never sent to the targets, so it can never be committed as the
tap's bookmark. A mapper that alters or drops every STATE therefore leaves the bookmarks where
they were. Messages a mapper passes on unchanged go out to the targets as the mapper's bytes.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from glue_runtime import protocol
from glue_runtime.errors import GlueError, MapperFailed
from glue_runtime.flushing import FlushSoon
from glue_runtime.process import ConnectorFiles, ConnectorProcess
from glue_runtime.protocol import STATE, Message
from glue_runtime.secrets import Redactor
from glue_runtime.tapread import Incoming, SingerReader, encode

log = logging.getLogger("glue_runtime.job")

EXIT_GRACE_S = 10.0  # how long a mapper that closed its output may take to exit


class _FedStates:
    """The STATE values fed into the chain and not yet seen at its end, oldest first.

    Mappers keep order, so a STATE coming out settles every one fed before it. Bounded: past
    MAX the oldest are forgotten, and a STATE matching only one of those counts as altered
    (never sent on), which is safe.
    """

    MAX = 100_000

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: deque[tuple[bytes, Any]] = deque()
        self.counts: dict[bytes, int] = {}

    def fed(self, value: Any) -> None:
        key = protocol.canonical(value)
        with self.lock:
            self.items.append((key, value))
            self.counts[key] = self.counts.get(key, 0) + 1
            if len(self.items) > self.MAX:
                self._pop()

    def _pop(self) -> tuple[bytes, Any]:
        key, value = self.items.popleft()
        n = self.counts[key] - 1
        if n:
            self.counts[key] = n
        else:
            del self.counts[key]
        return key, value

    def came_out(self, value: Any) -> bool:
        """Whether ``value`` is one fed in (then it and every earlier one are settled)."""
        key = protocol.canonical(value)
        with self.lock:
            if key not in self.counts:
                # The same JSON value spelled differently (1.0 for 1, say)? Rare: a scan.
                match = next((k for k, v in self.items if v == value), None)
                if match is None:
                    return False
                key = match
            while self._pop()[0] != key:
                pass
            return True


class MapperChain:
    """The mapper processes of one job, their feeder thread and the reading of their output."""

    def __init__(
        self,
        endpoints: Sequence[Any],  # runner.Endpoint: a connector and its config
        *,
        redactor: Redactor,
        env: dict[str, str] | None,
        cwd: str | None,
        max_line_bytes: int,
        files: list[ConnectorFiles],
        on_failure: Callable[[GlueError], None],
    ) -> None:
        self.endpoints = list(endpoints)
        self.redactor = redactor
        self.env = env
        self.cwd = cwd
        self.max_line_bytes = max_line_bytes
        self.files = files
        self.on_failure = on_failure
        self.procs: list[ConnectorProcess] = []
        self.states = _FedStates()
        self.reader: SingerReader  # set by start(): it parses the last mapper's stdout
        self.input_ended = False  # set before the first mapper's input is closed
        self.input_broken = False  # it stopped reading before the end of its input
        self.feeder: threading.Thread | None = None
        self.failed = False
        self.output_done = False  # the last mapper's output was read to its end
        self.altered_states = 0
        self._shut = False

    # -- processes ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start every mapper, each one's stdin the previous one's stdout."""
        upstream: Any = True  # the first reads a pipe from us
        for i, ep in enumerate(self.endpoints):
            files = ConnectorFiles(ep.label)
            self.files.append(files)
            cfg = files.write_json("config.json", ep.config)
            label = ep.label if len(self.endpoints) == 1 else f"{ep.label}[{i}]"
            proc = ConnectorProcess(
                label,
                [*ep.connector.argv, "--config", str(cfg)],
                stdin=upstream,
                redactor=self.redactor,
                env=self.env,
                cwd=self.cwd,
            )
            if self.procs:
                self.procs[-1].close_stdout()  # the pipe is the next mapper's now
            self.procs.append(proc)
            upstream = proc.stdout
        last = self.procs[-1]
        # As for the tap's lines; only a STATE that passed through unchanged is kept.
        self.reader = SingerReader(
            last.stdout,
            label=last.label,
            max_line_bytes=self.max_line_bytes,
            redactor=self.redactor,
            keep_state=self._passes_state,
        )

    # -- input -------------------------------------------------------------------------------
    def feed(
        self,
        messages: Iterator[Message],
        source: Incoming,
        on_error: Callable[[BaseException], None],
    ) -> None:
        """Write ``messages`` to the first mapper from a thread of its own.

        ``source`` is the tap reader's line, so a message the earlier stages passed through
        unchanged goes out as the tap's own bytes (tapread.py). ``on_error`` gets what the
        source or a stage raised (bad data, a failing stage); the chain's input is closed
        then, so the mappers drain what they got.
        """
        self.feeder = threading.Thread(
            target=self._feed, args=(messages, source, on_error), name="mapper-feeder", daemon=True
        )
        self.feeder.start()

    def _feed(
        self,
        messages: Iterator[Message],
        source: Incoming,
        on_error: Callable[[BaseException], None],
    ) -> None:
        first = self.procs[0]
        write = first.stdin.write
        push = FlushSoon([first.stdin])
        fed = self.states.fed
        try:
            for msg in messages:
                data = encode(msg, source)
                if msg["type"] == STATE:
                    fed(msg["value"])
                    write(data)
                    push.soon()  # so the STATE comes out, and is confirmed, while the tap runs on
                else:
                    write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.input_broken = True
        except BaseException as exc:  # bad data or a failing stage: the job decides
            on_error(exc)
        finally:
            # Before closing: a mapper cannot see the end of its input earlier than this.
            self.input_ended = True
            push.cancel()
            if not first.close_stdin():
                self.input_broken = True

    # -- output ------------------------------------------------------------------------------
    @property
    def current(self) -> Incoming:
        """The line of the last mapper's output read last (its message and exact bytes)."""
        return self.reader.current

    def messages(self) -> Iterator[Message]:
        """Parse the last mapper's stdout; at its end, check how every mapper ended."""
        yield from self.reader.messages()
        self.output_done = True
        self._check_exits()

    def _passes_state(self, value: Any, line_no: int) -> bool:
        """Whether a STATE the last mapper wrote is one the chain was fed (else it is dropped)."""
        if self.states.came_out(value):
            return True
        self._altered_state(self.procs[-1].label, line_no)
        return False

    def _altered_state(self, label: str, line_no: int) -> None:
        self.altered_states += 1
        if self.altered_states == 1:
            log.warning(
                "%s: line %d is a STATE the tap did not send (a mapper altered or made it up); "
                "it is not passed on and confirms nothing, so bookmarks move only with STATE "
                "that passes through the mappers unchanged",
                label,
                line_no,
            )

    def _check_exits(self) -> None:
        """The chain's output ended: each mapper must exit 0, after reading all its input."""
        codes: list[int | None] = []
        for p in self.procs:
            try:
                codes.append(p.wait(EXIT_GRACE_S))
            except subprocess.TimeoutExpired:  # the chain's output ended, but it runs on
                p.stop(grace=5)
                codes.append(None)
        for p in self.procs:
            p.close_stdout()
        problems = []
        for p, code in zip(self.procs, codes, strict=True):
            if code is None:
                problems.append(f"{p.label} did not exit after the chain's output ended")
            elif code != 0:
                problems.append(f"{p.label} {p.describe_exit(code)}")
        if self.input_ended and self.feeder is not None:
            self.feeder.join(EXIT_GRACE_S)  # it is closing the input: let it say how that went
        stopped_early = not self.input_ended or self.input_broken
        if stopped_early and not problems:
            problems.append(
                f"{self.procs[0].label} stopped reading its input (the mappers exited with "
                "code 0 before the end of it)"
            )
        if not problems:
            return
        self.failed = True
        worst = next((p for p, c in zip(self.procs, codes, strict=True) if c != 0), self.procs[0])
        self.on_failure(
            MapperFailed(
                f"mapper failed: {'; '.join(problems)}; no state past the last confirmed STATE "
                f"was committed.\n  last lines of {worst.label}'s stderr:\n{worst.tail()}",
                hint="fix the mapper's error above, then run again: the next run resumes from "
                "the last committed state",
            )
        )

    # -- the end -----------------------------------------------------------------------------
    def shutdown(self, join_s: float = 30.0) -> None:
        """Stop what still runs (the pump ended early) and wait for the feeder."""
        if self._shut:
            return
        self._shut = True
        for p in self.procs:
            p.close_stdout()  # a mapper blocked writing to us gets EPIPE
            p.stop(grace=5)
        if self.feeder is not None:
            self.feeder.join(join_s)
            if self.feeder.is_alive():
                log.warning("the mapper feeder thread did not end within %.0fs", join_s)

    def close(self) -> None:
        """Release the mappers' pipes now (not at garbage collection), once the feeder is done."""
        if self.feeder is not None and self.feeder.is_alive():
            return  # it may still write to the first mapper: closing under it could block
        for p in self.procs:
            p.close()
