"""Flushing a pipe soon after a STATE is written to it, not once per STATE."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any


class FlushSoon:
    """Flushes some pipes (targets' or a mapper's input) shortly after a STATE is written.

    A STATE must reach the reader soon, so a target can confirm it while the tap runs on (or
    sits idle), but a flush per STATE costs a system call and a wake-up of each reader: with a
    STATE per record that is most of the job. So a timer flushes at most every DELAY_S, in its
    own thread (BufferedWriter locks around flush and write). A pipe that broke is left for the
    writer to find at its next write, which names the connector.
    """

    DELAY_S = 0.02

    def __init__(self, streams: Sequence[Any]) -> None:
        self.streams = streams
        self.timer: threading.Timer | None = None

    def soon(self) -> None:
        if self.timer is None:
            self.timer = threading.Timer(self.DELAY_S, self._flush)
            self.timer.daemon = True
            self.timer.start()

    def _flush(self) -> None:
        self.timer = None  # set before flushing: a STATE written meanwhile gets its own timer
        for stream in self.streams:
            with contextlib.suppress(OSError, ValueError):  # broken or closed: the writer sees it
                stream.flush()

    def cancel(self) -> None:
        """Drop a pending flush (the writer closes the pipe itself, which flushes)."""
        timer = self.timer
        if timer is not None:
            timer.cancel()
