"""Confirmations and commits: a STATE is committed once every target has emitted it back.

- :class:`Confirmations` numbers the STATEs sent to the targets, credits each target with the
  STATE it emits (after flushing the records before it), and stages the newest STATE every
  target has confirmed in the committer; the write to the state store follows at most every
  ``write_interval_s`` (a write is two fsyncs) and once at the end (:meth:`Confirmations.finish`).
- :class:`TargetOutput` reads one target's stdout in a thread of its own and credits each line
  (docs/concepts.md, "Bookmarks advance only as far as the targets confirmed"); a line that is
  no STATE the job sent confirms nothing and is logged.
- :func:`bookmarks_not_moved`: the warning for a run whose targets confirmed none of its STATE.

Once a target fails, the job calls :meth:`Confirmations.freeze`: nothing further is committed.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from glue_runtime import protocol
from glue_runtime.errors import GlueError, NestedTooDeep
from glue_runtime.process import ConnectorProcess, skip_rest_of_line
from glue_runtime.secrets import Redactor
from glue_runtime.state import StateCommitter

log = logging.getLogger("glue_runtime.job")


class PrunedKeys:
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


class Confirmations:
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
        self.pruned = PrunedKeys()
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


class TargetOutput:
    """Reads one target's stdout in a thread of its own and credits the STATEs it emits.

    A line has the bound a tap's line has (--max-line-bytes, 64 MiB by default): a STATE the
    job sent fits in it, and so do the result STATEs of targets built on hotglue's SDK (every
    record's outcome: a few MB for a run of 100,000 records). A longer line could not confirm
    anything, so it is read and dropped in pieces instead of held whole.

    ``on_commit_error`` gets a failed state write (or an internal error): reading goes on, or
    the target would block on its stdout. ``on_closed(index, code)`` runs once the stdout has
    ended and the target has exited: the job decides whether that was too early.
    """

    def __init__(
        self,
        index: int,
        target: ConnectorProcess,
        confirmations: Confirmations,
        *,
        max_line_bytes: int,
        redactor: Redactor,
        on_commit_error: Callable[[GlueError], None],
        on_closed: Callable[[int, int], None],
    ) -> None:
        self.index = index
        self.target = target
        self.confirmations = confirmations
        self.max_line_bytes = max_line_bytes
        self.redactor = redactor
        self.on_commit_error = on_commit_error
        self.on_closed = on_closed
        self.ignored_lines = 0  # stdout lines that credited nothing
        self.thread = threading.Thread(target=self.read, name=f"target-{index}-stdout")

    def start(self) -> None:
        self.thread.start()

    def read(self) -> None:
        """Credit each stdout line until the target closes its stdout."""
        target = self.target
        readline = target.stdout.readline
        limit = self.max_line_bytes
        line_no = 0
        while line := readline(limit + 1):
            line_no += 1
            if len(line) > limit and line[-1:] != b"\n":
                self._drop_long_line(line, line_no, readline)
                continue
            if line.isspace():
                continue
            try:
                self.credit(line, line_no)
            except GlueError as exc:  # the state file could not be written
                self.on_commit_error(exc)
            except Exception as exc:  # keep draining its stdout, or the target blocks on it
                log.exception("internal error while reading %s's output", target.label)
                self.on_commit_error(GlueError(f"internal error in glue_runtime: {exc!r}"))
        self.on_closed(self.index, target.proc.wait())

    def credit(self, line: bytes, line_no: int) -> None:
        """Credit the target with one stdout line, or log why it confirms nothing."""
        value = protocol.target_state(line)
        if value is None:
            what = "is not a state"
        else:
            try:
                if self.confirmations.target_emitted(self.index, value):
                    return
                what = "is not a STATE this job sent"
            except NestedTooDeep:  # the job cannot have sent it: each STATE sent was written
                what = "is nested too deep to be a STATE this job sent"
        self.ignored_lines += 1
        log.warning(
            "%s: stdout line %d %s; ignored: %s",
            self.target.label,
            line_no,
            what,
            repr(protocol.excerpt(line, redactor=self.redactor)),
        )

    def _drop_long_line(self, head: bytes, line_no: int, readline: Any) -> None:
        """Skip a stdout line over the bound: it confirms nothing, memory stays bounded."""
        size = len(head) + skip_rest_of_line(readline)
        start = self.redactor.redact(head[:4096].decode("utf-8", "replace"))
        log.warning(
            "%s: stdout line %d is %s bytes, over the %s bytes a line may have "
            "(--max-line-bytes); ignored, it confirms nothing: %s",
            self.target.label,
            line_no,
            f"{size:,}",
            f"{len(head) - 1:,}",
            repr(protocol.excerpt(start)),
        )


def bookmarks_not_moved(
    confirmations: Confirmations, labels: Sequence[str], ignored_lines: Sequence[int]
) -> str | None:
    """The warning for a run whose tap sent STATE but whose targets confirmed none of it.

    The job still succeeds (the data arrived), but its bookmarks did not move: the next run
    reads the same data again. A user must hear that, and why (per silent target).
    """
    if confirmations.sends == 0 or confirmations.committed_index >= 0:
        return None
    why = []
    for i, confirmed in enumerate(confirmations.confirmed):
        if confirmed >= 0:
            continue
        label = labels[i] if i < len(labels) else f"target {i}"
        ignored = ignored_lines[i] if i < len(ignored_lines) else 0
        if ignored:
            why.append(
                f"{label} wrote {ignored} stdout line(s), none of them a STATE this job sent"
            )
        else:
            why.append(f"{label} emitted no state on its stdout")
    return (
        f"bookmarks did not move: the tap sent {confirmations.sends} STATE message(s) but "
        f"{'; '.join(why)}. Only STATE a target confirms is committed, so the next run "
        "starts from the same bookmarks"
    )
