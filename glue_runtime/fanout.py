"""Writing the stages' output to every target's stdin: the per-record hot path of a job.

Each message goes to every target in order. An unchanged message goes out as the tap's own
bytes (the raw-bytes rule, tapread.py); a changed one is serialised once for all targets. A
STATE is registered with the confirmations *before* it is written (a fast target may emit it
back at once), and the targets' input is flushed within FlushSoon.DELAY_S after it, so the
targets can confirm it while the tap runs on. Records out are counted per stream, and a
stream's first RECORD sent before any SCHEMA of it is reported once.

A target whose pipe breaks (it exited, or closed its input) ends the writing: :meth:`write`
returns its index and the job applies the target-failure rule (runner.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Sequence
from typing import IO

import orjson

from glue_runtime import protocol
from glue_runtime.flushing import FlushSoon
from glue_runtime.process import ConnectorProcess
from glue_runtime.protocol import BATCH, RECORD, SCHEMA, STATE, Message
from glue_runtime.tapread import Incoming


class _Targets:
    """Writes one line to each target's stdin, remembering which one it is writing to."""

    def __init__(self, stdins: Sequence[IO[bytes]]) -> None:
        self.writers = [s.write for s in stdins]
        self.current = 0  # the target being written to, to name it if its pipe breaks

    def write(self, data: bytes) -> None:
        for i, write in enumerate(self.writers):
            self.current = i
            write(data)


class Fanout:
    """Writes messages to every target; counts what went out.

    ``on_state(value)`` registers a STATE before it is written (Confirmations.sent_state),
    ``on_batch(msg)`` counts a BATCH's files, ``on_schema_less(stream)`` hears of a stream's
    first RECORD sent before any SCHEMA of it.
    """

    def __init__(
        self,
        targets: Sequence[ConnectorProcess],
        *,
        on_state: Callable[[object], None],
        on_batch: Callable[[Message], None],
        on_schema_less: Callable[[str], None],
    ) -> None:
        self.stdins = [t.stdin for t in targets]
        self.on_state = on_state
        self.on_batch = on_batch
        self.on_schema_less = on_schema_less
        self.records_out: dict[str, int] = {}  # per stream, added to the job's counts at the end
        self.with_schema: set[str] = set()  # streams whose SCHEMA went to the targets

    def write(self, messages: Iterable[Message], source: Incoming) -> int | None:
        """Write every message; the index of a target whose pipe broke, else None.

        ``source`` is the reader's line (the tap's, or the last mapper's): a message that is
        its message goes out as its bytes (Incoming.bytes_for, inlined: this is per record).
        """
        out_counts = self.records_out
        dumps = orjson.dumps
        newline = orjson.OPT_APPEND_NEWLINE
        push = FlushSoon(self.stdins)
        fan = _Targets(self.stdins)
        write = self.stdins[0].write if len(self.stdins) == 1 else fan.write
        try:
            for msg in messages:
                if msg["type"] == RECORD:
                    name = msg["stream"]
                    n = out_counts.get(name)
                    out_counts[name] = (self._first_record(name) if n is None else n) + 1
                    is_state = False
                else:
                    is_state = self._other(msg)
                if msg is source.message:
                    data = source.raw
                else:
                    try:
                        data = dumps(msg, option=newline)
                    except TypeError:  # an integer over 64 bits, say: the exact, slower path
                        data = protocol.dump(msg)
                write(data)
                if is_state:
                    push.soon()  # so the targets can confirm it while the tap runs on
        except (BrokenPipeError, ConnectionResetError):
            return fan.current
        return None

    def _first_record(self, stream: str) -> int:
        """A stream's first RECORD out: report it if no SCHEMA of it went before; its count."""
        if stream not in self.with_schema:
            self.on_schema_less(stream)
        return 0

    def _other(self, msg: Message) -> bool:
        """Bookkeeping for a message that is not a RECORD; whether it is a STATE."""
        mtype = msg["type"]
        if mtype == STATE:
            self.on_state(msg["value"])
            return True
        if mtype == BATCH:
            self.on_batch(msg)
        elif mtype == SCHEMA:
            self.with_schema.add(msg["stream"])
        return False


def exit_code_soon(target: ConnectorProcess, wait_s: float = 2.0) -> int | None:
    """A target whose pipe broke: its exit code once it exits, None if it still runs."""
    try:
        return target.proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        return None
