"""Log output for the CLI: readable text on a terminal, one JSON object a line for machines.

Connector stderr arrives here labelled with the connector (``extra={"connector": ...}``); job
events carry ``event`` (stream_start, stream_end, job_end) and their counts, so a JSON log can be
parsed without reading the text.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import orjson

from glue_runtime.result import StreamStats

_STD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%H:%M:%S", time.localtime(record.created))
        who = getattr(record, "connector", None) or "glue"
        text = f"{ts} {record.levelname:<7} [{who}] {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class _ProgressAwareHandler(logging.StreamHandler[TextIO]):
    """Clears the live progress line before writing a log line over it."""

    progress_active = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.progress_active:
            self.stream.write("\r\x1b[K")
        super().emit(record)


_handler: _ProgressAwareHandler | None = None


def setup(log_format: str = "text", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Configure the ``glue_runtime`` logger for the CLI (library users configure their own)."""
    global _handler
    root = logging.getLogger("glue_runtime")
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = _ProgressAwareHandler(stream or sys.stderr)
    _handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(_handler)
    root.setLevel(level.upper())
    root.propagate = False


class ProgressLine:
    """A live one-line progress display on a terminal: records and records/s per stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._last: dict[str, int] = {}
        self._last_t = 0.0

    def __call__(self, streams: dict[str, StreamStats], elapsed: float) -> None:
        if _handler is not None:
            _handler.progress_active = True
        dt = max(elapsed - self._last_t, 1e-6)
        parts = []
        for name, s in list(streams.items())[-4:]:
            rate = (s.records_in - self._last.get(name, 0)) / dt
            parts.append(f"{name}: {s.records_in:,} ({rate:,.0f}/s)")
            self._last[name] = s.records_in
        self._last_t = elapsed
        line = f"{elapsed:6.1f}s  " + "  ".join(parts)
        self.stream.write("\r\x1b[K" + line[:200])
        self.stream.flush()

    def close(self) -> None:
        if _handler is not None and _handler.progress_active:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            _handler.progress_active = False
