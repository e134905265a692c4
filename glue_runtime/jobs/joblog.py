"""A job's log in the store: the runtime's log lines and its connectors' stderr, redacted.

While a job runs, :class:`JobLogHandler` sits on the ``glue_runtime`` logger. Connector stderr
arrives there already redacted and labelled (``extra={"connector": ...}``); every line is
redacted again with the job's secrets (the runtime's own lines too), and written to
``job_logs`` in batches by the job's watch thread: every second, and as soon as ``MAX_BATCH``
lines wait.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from glue_runtime.jobs.lifecycle import write_logs
from glue_runtime.jobs.tables import job_logs, job_samples
from glue_runtime.protocol import loads_exact
from glue_runtime.secrets import Redactor
from glue_runtime.workspace.store import Store

MAX_BATCH = 200
RUNTIME = "runtime"


class JobLogHandler(logging.Handler):
    """Collects log lines for one job and writes them to the store in batches."""

    def __init__(
        self, store: Store, job_id: str, redactor: Redactor, now: Callable[[], float]
    ) -> None:
        super().__init__(logging.INFO)
        self.store = store
        self.job_id = job_id
        self.redactor = redactor
        self.now = now
        self._pending: list[tuple[float, str, str, str]] = []
        self._lock = threading.Lock()
        self._write = threading.Lock()  # one batch at a time, in order
        # Set when a batch is full: the job's watch thread writes it. Never written from the
        # logging thread, which may be inside a store transaction (SQLite would deadlock).
        self.full = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            source = getattr(record, "connector", None) or RUNTIME
            line = (self.now(), str(source), record.levelname, self.redactor.redact(text))
        except Exception:  # a log line must never break the job
            self.handleError(record)
            return
        with self._lock:
            self._pending.append(line)
            if len(self._pending) >= MAX_BATCH:
                self.full.set()

    def flush(self) -> None:
        with self._write:
            with self._lock:
                batch, self._pending = self._pending, []
                self.full.clear()
            try:
                write_logs(self.store, self.job_id, batch)
            except Exception:  # the store is down: the job's own outcome still counts
                logging.getLogger("glue_runtime.jobs").debug(
                    "job %s: %d log lines not written", self.job_id, len(batch), exc_info=True
                )


class _AtLeast(logging.Filter):
    """Keeps the application's handlers at the level it chose while the job's logger is
    lowered to INFO for the job's log."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or not record.name.startswith("glue_runtime")


@contextmanager
def capture(handler: JobLogHandler) -> Iterator[JobLogHandler]:
    """The handler on the ``glue_runtime`` logger for the block. INFO lines reach it even when
    the application set the logger to WARNING; the application's own handlers still get only
    what they got before (a filter at the old level), and the level is restored after."""
    logger = logging.getLogger("glue_runtime")
    old_level, effective = logger.level, logger.getEffectiveLevel()
    others: list[logging.Handler] = []
    keep = _AtLeast(effective)
    if effective > logging.INFO:
        others = [*logger.handlers, *(logging.getLogger().handlers if logger.propagate else [])]
        for h in others:
            h.addFilter(keep)
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        for h in others:
            h.removeFilter(keep)
        handler.flush()


@dataclass(frozen=True)
class LogLine:
    """One line of a job's log; ``id`` orders them (``after=`` pages on from one)."""

    id: int
    at: float
    source: str
    level: str
    line: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "source": self.source,
            "level": self.level,
            "line": self.line,
        }


def read_logs(
    store: Store, job_id: str, *, after: int = 0, limit: int | None = None
) -> list[LogLine]:
    """The job's log lines after line id ``after``, in order."""
    query = (
        sa.select(job_logs)
        .where(job_logs.c.job_id == job_id, job_logs.c.id > after)
        .order_by(job_logs.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [LogLine(r.id, r.at, r.source, r.level, r.line) for r in rows]


def read_samples(store: Store, job_id: str) -> list[tuple[float, dict[str, int]]]:
    """The job's progress samples, oldest first: (time, records per stream so far)."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(job_samples).where(job_samples.c.job_id == job_id).order_by(job_samples.c.at)
        ).all()
    return [(r.at, loads_exact(r.counts)) for r in rows]
