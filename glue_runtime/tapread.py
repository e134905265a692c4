"""Reading a connector's Singer output: bounded lines, each parsed once, its bytes kept.

The tap's stdout (and, with mappers, the last mapper's) is read here, one line at a time:

- a line longer than ``max_line_bytes`` fails the job (LineTooLong) instead of eating memory;
- each line is parsed once, with orjson, or with the exact parse when it holds a number a
  float cannot hold (protocol.needs_exact); RECORDs of a stream already seen and STATEs take
  a fast path, every other line the full validation of protocol.parse_line;
- RECORD and SCHEMA are counted per stream as they are read, BATCH messages are handed to a
  counter, and a STATE can be filtered out (the mapper chain drops STATE a mapper altered).

**The raw-bytes rule.** A message the stages pass through unchanged goes out as the very bytes
the connector wrote, not re-serialised: that keeps the per-record cost of a pass-through near
zero and keeps numbers and key order exactly as the tap wrote them. The reader publishes the
line it is at in one :class:`Incoming` (updated in place, so no allocation per record); the
writer asks it with :meth:`Incoming.bytes_for`, or the same identity test inlined on the hot
path (fanout.py). A message "is unchanged" when the stages yield the very object the reader
parsed: stages never mutate a message in place (the Stage contract, stages/__init__.py), they
yield a new dict when they change one. A message that comes out later than the next line is
read (a stage held it) is simply re-serialised: correct, only slower.

The envelope is not yielded along with each message because stages take and yield plain
messages (their contract, which keeps them testable with a list of dicts); wrapping and
unwrapping an envelope per record would cost an allocation and a generator step each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from glue_runtime import protocol
from glue_runtime.protocol import BATCH, RECORD, SCHEMA, STATE, Message
from glue_runtime.result import StreamStats
from glue_runtime.secrets import Redactor


class Incoming:
    """The line a reader is at: its number, the message parsed from it, and its exact bytes.

    ``raw`` always ends with a newline (the reader adds one to a last line that has none), so
    it can be written as it is. ``message`` is None when the line's bytes cannot stand for the
    message parsed from it (the reader normalised it: a lower-case ``"type"``, say).
    """

    __slots__ = ("line_no", "message", "raw")

    def __init__(self) -> None:
        self.line_no = 0
        self.message: Message | None = None
        self.raw = b""

    def bytes_for(self, msg: Message) -> bytes | None:
        """The connector's own bytes for ``msg`` if it is this line's message, else None."""
        return self.raw if msg is self.message else None


def encode(msg: Message, source: Incoming) -> bytes:
    """``msg`` as a Singer line: the connector's bytes when unchanged, else serialised."""
    raw = source.bytes_for(msg)
    return raw if raw is not None else protocol.dump(msg)


class SingerReader:
    """Parses one connector's Singer stdout into messages (see the module's docstring).

    ``streams`` maps a stream's name to its counts (a RECORD of a stream not in it takes the
    full validation once, and ``new_stream`` adds it); ``on_schema`` and ``on_batch`` see each
    SCHEMA and BATCH; ``keep_state(value, line_no)`` may drop a STATE (then it is not yielded).
    """

    def __init__(
        self,
        stdout: IO[bytes],
        *,
        label: str,
        max_line_bytes: int,
        redactor: Redactor | None,
        streams: dict[str, StreamStats] | None = None,
        new_stream: Callable[[str], StreamStats] | None = None,
        on_schema: Callable[[Message], None] | None = None,
        on_batch: Callable[[Message], None] | None = None,
        keep_state: Callable[[Any, int], bool] | None = None,
    ) -> None:
        self.stdout = stdout
        self.label = label
        self.max_line_bytes = max_line_bytes
        self.redactor = redactor
        self.streams: dict[str, StreamStats] = {} if streams is None else streams
        self.new_stream = new_stream or self._count_quietly
        self.on_schema = on_schema
        self.on_batch = on_batch
        self.keep_state = keep_state
        self.current = Incoming()

    def messages(self) -> Iterator[Message]:
        """Each message of the output, in order; ``current`` holds the line of the last one."""
        readline = self.stdout.readline
        limit = self.max_line_bytes
        loads = orjson.loads
        loads_line = protocol.loads_line
        needs_exact = protocol.needs_exact
        decode_error = orjson.JSONDecodeError
        streams = self.streams
        current = self.current
        # STATE takes the fast path unless something must look at it
        fast_state = self.keep_state is None
        line_no = 0
        while line := readline(limit + 1):
            line_no += 1
            current.line_no = line_no  # for errors a stage raises about this line's message
            if line[-1] != 10:  # no b"\n": over the bound, or a last line without one
                line = self._terminated(line, line_no)
            try:
                # Numbers a float cannot hold (one cheap byte check) take the exact parse.
                msg = loads(line) if not needs_exact(line) else loads_line(line)
            except decode_error:
                msg = self._decode_failed(line, line_no)
                if msg is None:
                    continue  # a blank line
            mtype = msg.get("type") if type(msg) is dict else None
            if mtype == RECORD:
                stream = msg.get("stream")
                stats = streams.get(stream) if type(stream) is str else None
                if stats is None or type(msg.get("record")) is not dict:
                    msg = self._parse(line, line_no)
                    stats = streams.get(msg["stream"]) or self.new_stream(msg["stream"])
                stats.records_in += 1
            elif mtype != STATE or not fast_state or "value" not in msg:
                msg = self._validated(line, line_no)
                if msg is None:
                    continue  # a STATE keep_state dropped
                if msg["type"] != mtype:  # "record" -> "RECORD": the line's bytes cannot go out
                    current.message = None
                    yield msg
                    continue
            current.message = msg
            current.raw = line
            yield msg

    # -- the rarer lines ---------------------------------------------------------------------
    def _parse(self, line: bytes, line_no: int) -> Message:
        return protocol.parse_line(line, source=self.label, line_no=line_no, redactor=self.redactor)

    def _terminated(self, line: bytes, line_no: int) -> bytes:
        """A line read without its newline: over the bound (an error), or the output's last."""
        limit = self.max_line_bytes
        if len(line) > limit:
            protocol.check_length(
                line, limit, source=self.label, line_no=line_no, redactor=self.redactor
            )
        return line + b"\n"

    def _decode_failed(self, line: bytes, line_no: int) -> Any:
        """What orjson refused: a blank line (None), a number too big for a float, or an error."""
        if line.isspace():
            return None
        try:  # a number too big for a float (1E+400) fails orjson: the exact parse
            return protocol.loads_line(line)
        except orjson.JSONDecodeError:
            self._parse(line, line_no)  # raises the descriptive error
            raise

    def _validated(self, line: bytes, line_no: int) -> Message | None:
        """A line off the fast path, fully validated; None for a STATE ``keep_state`` drops."""
        msg = self._parse(line, line_no)
        mtype = msg["type"]
        # A RECORD here had a lower-case type ("record"): it is not counted in (as before the
        # runner's split; the targets' count still has it).
        if mtype == SCHEMA:
            stats = self.streams.get(msg["stream"]) or self.new_stream(msg["stream"])
            stats.schemas += 1
            if self.on_schema is not None:
                self.on_schema(msg)
        elif mtype == BATCH:
            if self.on_batch is not None:
                self.on_batch(msg)
        elif (
            mtype == STATE
            and self.keep_state is not None
            and not self.keep_state(msg["value"], line_no)
        ):
            return None
        return msg

    def _count_quietly(self, name: str) -> StreamStats:
        stats = self.streams[name] = StreamStats(name=name)
        return stats
