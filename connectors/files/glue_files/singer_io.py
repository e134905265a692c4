"""Singer message I/O with orjson: a reader for the target, a writer for the tap."""

from __future__ import annotations

import decimal
import sys
from collections.abc import Callable
from typing import Any

import orjson
from singer_sdk.io_base import SingerReader, SingerWriter
from singer_sdk.singerlib.messages import Message, RecordMessage


def default(value: Any) -> Any:
    """orjson fallback for what a stream map or foreign reader may hand over."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot serialise {type(value).__name__} as JSON")


class OrjsonReader(SingerReader):
    """Parse input lines with orjson (several times faster than the stdlib), and tell the
    target when reading fails so it can drop its unpublished output."""

    on_error: Callable[[], None] | None = None
    # The target's own loop over the input lines (same contract as process_lines), if any.
    line_loop: Callable[[Any, dict[str, Callable]], Any] | None = None

    def deserialize_json(self, line: str) -> dict:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            # orjson refuses what the stdlib accepts (integers over 64 bits, NaN): defer to
            # singer-sdk's parser, which also raises its own error for a really bad line.
            return super().deserialize_json(line)

    def process_lines(self, file_input: Any, callbacks: dict[str, Callable]) -> Any:
        try:
            if self.line_loop is not None:
                return self.line_loop(file_input, callbacks)
            return super().process_lines(file_input, callbacks)
        except BaseException:
            if self.on_error is not None:
                self.on_error()
            raise


class OrjsonWriter(SingerWriter):
    """Serialise with orjson; flush stdout after every message but RECORDs (singer-sdk flushes
    after each record too, a system call per line). Records are flushed by the next SCHEMA or
    STATE message, and at exit."""

    def serialize_message(self, message: Message) -> str:
        try:
            return orjson.dumps(message.to_dict(), default=default).decode()
        except TypeError:  # e.g. non-string keys: singer-sdk's encoder copes
            return super().serialize_message(message)

    def write_message(self, message: Message) -> None:
        out = sys.stdout
        out.write(self.format_message(message) + "\n")
        if not isinstance(message, RecordMessage):
            out.flush()
