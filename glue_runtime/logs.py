"""Log output for the CLI: readable text on a terminal, one JSON object a line for machines.

Connector stderr arrives here labelled with the connector (``extra={"connector": ...}``); job
events carry ``event`` (stream_start, stream_end, job_end) and their counts, so a JSON log can be
parsed without reading the text.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any, TextIO

import orjson

from glue_runtime.result import StreamStats

_STD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


# singer-sdk: "2026-12-01 22:42:37,491 | INFO     | tap-files.orders     | message";
# singer-python: "INFO message".
_SDK_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?\s*\|\s*([A-Z]+)\s*\|\s*([^|]*?)\s*\|\s?(.*)$"
)
_LEVEL_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$")
_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "FATAL": logging.CRITICAL,
}
_TRACEBACK_CONTINUED = (
    "During handling of the above exception",
    "The above exception was the direct cause",
)
_NOISE = ("Skipping parse of env var settings",)
_SDK_BANNER = re.compile(r"^\S+ v\S+, Meltano SDK v\S+$")  # "tap-x v1.0, Meltano SDK v0.54"


class ConnectorLines:
    """Turns one connector's stderr lines into log events that read as one story.

    - a line a connector logged with its own timestamp and level (singer-sdk, singer-python)
      keeps its level and loses the second timestamp;
    - METRIC lines, singer-sdk's banner, and INFO or WARNING lines repeating one already shown
      (singer-sdk's "Draining..." at every batch), go to DEBUG;
    - a Python traceback's frames go to DEBUG (``-v`` shows them) and stay out of the tail kept
      for the error report; its last line, the exception, is kept.
    """

    MAX_REMEMBERED = 2000  # distinct INFO/WARNING lines remembered for the repeat check

    def __init__(self, default_level: int = logging.INFO) -> None:
        self.default_level = default_level
        self.in_traceback = False
        self.traceback_lines = 0
        self._seen: set[str] = set()
        self._last_kept = ""

    def classify(self, line: str) -> tuple[int, str, bool]:
        """(level, text to log, whether the line belongs in the error tail)."""
        if self.in_traceback:
            if line[:1].isspace() or line.startswith(_TRACEBACK_CONTINUED):
                self.traceback_lines += 1
                return logging.DEBUG, line, False
            self.in_traceback = False  # "SomeError: message" ends it
            # Kept for the error report, unless the connector logged that message just before.
            repeat = line.partition(": ")[2] == self._last_kept
            return logging.DEBUG, line, not repeat
        if line.startswith("Traceback (most recent call last):"):
            self.in_traceback = True
            self.traceback_lines += 1
            return logging.DEBUG, line, False
        level = self.default_level
        text = line
        m = _SDK_LINE.match(line)
        if m is not None:
            level = _LEVELS.get(m.group(1), level)
            text = m.group(3)
        else:
            m = _LEVEL_LINE.match(line)
            if m is not None:
                level = _LEVELS[m.group(1)]
                text = m.group(2)
        if level == logging.INFO:
            level = self.default_level
            if text.startswith(("METRIC", *_NOISE)) or _SDK_BANNER.match(text):
                return logging.DEBUG, text, False
        if logging.INFO <= level <= logging.WARNING:
            if text in self._seen:
                return logging.DEBUG, text, False
            if len(self._seen) < self.MAX_REMEMBERED:
                self._seen.add(text)
        self._last_kept = text
        return level, text, True


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


def _summary_events(record: logging.LogRecord) -> bool:
    """Leave the job's end counts out of the text log: the CLI prints them as its summary table.

    (The JSON log keeps them: there they are the summary.)
    """
    return getattr(record, "event", None) not in ("stream_end", "job_end")


def setup(log_format: str = "text", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Configure the ``glue_runtime`` logger for the CLI (library users configure their own)."""
    global _handler
    root = logging.getLogger("glue_runtime")
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = _ProgressAwareHandler(stream or sys.stderr)
    _handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    if log_format != "json":
        _handler.addFilter(_summary_events)
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
