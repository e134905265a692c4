"""Watching the job's connectors: signals, the clock (timeouts.py), leftover processes, exits.

- :class:`Signals` owns SIGINT, SIGTERM and SIGHUP for the whole run. Before the connectors
  start, a signal acts as it did before the job; while they run, the first one asks the tap to
  stop (SIGTERM) and the job drains, a second one stops every connector (a third kills them);
  once the job has finished, a signal is logged and the clean-up goes on.
- :class:`Supervisor` watches the running connectors: the tap's idle and drain timeouts (and a
  target that stops reading while the tap waits on it), a tap that exited while a process it
  started keeps its stdout open, and the drain timeout while the job awaits each exit.

Each watch reports what it found through ``fail`` (the job's first error, report.Outcome) and
``freeze`` (commit nothing further, Confirmations.freeze), and stops the connector itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

from glue_runtime.errors import ConnectorTimeout, GlueError, Interrupted, TapFailed
from glue_runtime.process import ConnectorProcess
from glue_runtime.timeouts import Timeouts, describe

log = logging.getLogger("glue_runtime.job")
DRAIN_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

SETUP, RUNNING, FINISHED = "setup", "running", "finished"


class Supervisor:
    """The watches over one job's connectors; the runner sets ``tap``, ``mappers``, ``targets``
    as it starts them."""

    def __init__(
        self,
        timeouts: Timeouts,
        *,
        fail: Callable[[GlueError], None],
        freeze: Callable[[], None],
    ) -> None:
        self.timeouts = timeouts
        self.fail = fail
        self.freeze = freeze
        self.tap: ConnectorProcess | None = None
        self.mappers: Sequence[ConnectorProcess] = ()
        self.targets: list[ConnectorProcess] = []
        self.pump_done = threading.Event()  # set when the job has stopped reading the tap
        self.timed_out: set[int] = set()  # pids of connectors stopped by a timeout
        self.stop_asked_at: float | None = None  # when a signal asked the tap to stop
        self.interrupted = 0  # signals received while the connectors ran

    # -- while the tap is read ---------------------------------------------------------------
    def start_watches(self, tap: ConnectorProcess) -> None:
        """Watch the tap for leftover processes, and its clock when a timeout is set."""
        threading.Thread(target=self.watch_leftovers, args=(tap,), daemon=True).start()
        if self.timeouts.idle or self.timeouts.drain:
            threading.Thread(
                target=self.watch_clock, args=(tap,), name="tap-clock", daemon=True
            ).start()

    def watch_leftovers(self, tap: ConnectorProcess) -> None:
        """End the job when the tap has exited but a process it started holds its stdout.

        Reading would never end: the pipe stays open while any process has it. Once the tap
        has exited, the pump is still waiting for the end of its output a second later, the
        pipe is drained and other processes hold its write end, those are killed. What they
        might still have written is unknown, so the job fails rather than report a full sync.
        (The tap is awaited without reaping it, so its id is not reused meanwhile.)
        """
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitid(os.P_PID, tap.pid, os.WEXITED | os.WNOWAIT)
        while not self.pump_done.wait(1.0):
            holders = tap.stdout_writers()
            if not holders:
                return  # the end of the output is coming: the pump is busy with the rest
            if tap.output_pending():
                continue
            self.fail(
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

    def watch_clock(self, tap: ConnectorProcess) -> None:
        """The tap's timeouts while the pump reads it: idle, and drain after a signal.

        Idle: no output on its stdout or stderr for ``idle`` seconds while it runs (output in
        the pipe the job has not read yet counts: then the job is the slow side). After
        SIGINT/SIGTERM the tap has ``drain`` seconds to stop before it is killed.
        """
        idle, drain = self.timeouts.idle, self.timeouts.drain
        tick = min(max(min(x for x in (idle, drain) if x) / 20, 0.02), 1.0)
        while not self.pump_done.wait(tick):
            if self._clock_tick(tap, time.monotonic()):
                return

    def _clock_tick(self, tap: ConnectorProcess, now: float) -> bool:
        """One look at the clock; True once a timeout has stopped a connector."""
        idle, drain = self.timeouts.idle, self.timeouts.drain
        if exited(tap):
            # The rest of its output is coming (or watch_leftovers deals with it), unless the
            # job is stuck writing it to a target that does not read.
            return self._waiting_on_target(tap, now, idle)
        asked = self.stop_asked_at
        if asked is not None:
            if drain and now - asked >= drain:
                log.warning(
                    "%s did not stop within %s of being asked to (drain timeout); killing it",
                    tap.label,
                    describe(drain),
                )
                self.stop_timed_out(tap, None)  # the job's error stays the interruption
                return True
            return False
        if tap.output_pending():
            tap.last_activity = now
            return self._waiting_on_target(tap, now, idle)
        if idle and now - tap.last_activity >= idle:
            self.stop_timed_out(tap, _tap_idle(tap, idle))
            return True
        return False

    def _waiting_on_target(self, tap: ConnectorProcess, now: float, idle: float | None) -> bool:
        """The job has not read the tap for ``idle``: a stalled target stopped, if it is one."""
        if not idle:
            return False
        return now - tap.last_read >= idle and self._stalled_target(idle)

    def _stalled_target(self, idle: float) -> bool:
        """The tap waits on the job, and the job has waited ``idle`` on a target that does not
        read its input (its pipe holds what was written to it): stop that target.

        Its failure then takes the usual path (the tap is stopped, nothing further committed).
        False when no target's input is pending: a stage is slow, which is not a connector's.
        """
        for t in self.targets:
            if t.proc.poll() is None and t.input_pending():
                self.freeze()
                self.stop_timed_out(
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

    # -- after the tap's output ended --------------------------------------------------------
    def await_exit(self, p: ConnectorProcess, deadline: float | None, after: str) -> int:
        """Its exit code, once it exits; past ``deadline`` it is stopped (drain timeout)."""
        try:
            return p.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        drain = describe(self.timeouts.drain or 0)
        self.stop_timed_out(
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

    def await_reader(
        self, target: ConnectorProcess, reader: threading.Thread, deadline: float | None
    ) -> None:
        """Wait for the end of a target's stdout: it exited, but a process it left may hold it."""
        reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if not reader.is_alive():
            return
        if target.pid not in self.timed_out:
            self.stop_timed_out(
                target,
                ConnectorTimeout(
                    f"{target.label} exited, but a process it started still held its stdout "
                    f"{describe(self.timeouts.drain or 0)} after its input was closed "
                    "(drain timeout); its process group was killed.",
                    hint="make the target wait for the processes it starts, or not hand them "
                    "its stdout",
                ),
            )
        reader.join(5)

    def drain_deadline(self) -> float | None:
        """From now every connector has ``drain`` seconds to finish (None: no limit)."""
        drain = self.timeouts.drain
        return time.monotonic() + drain if drain else None

    def stop_timed_out(self, p: ConnectorProcess, error: GlueError | None) -> None:
        """Fail the job with ``error`` (if it has no cause yet) and stop ``p`` and its group."""
        self.timed_out.add(p.pid)
        if error is not None:
            log.error("%s", error.message.split("\n", 1)[0])
            self.fail(error)
        p.stop(grace=5)
        p.kill_group()  # what it started in its session goes too

    # -- signals -----------------------------------------------------------------------------
    def interrupt(self, name: str) -> None:
        """A signal while the connectors run: drain on the first, stop everything on more."""
        self.interrupted += 1
        if self.interrupted == 1:
            log.warning("%s received: stopping the tap and draining the targets", name)
            self.fail(
                Interrupted(
                    f"interrupted by {name}; the targets drained and the state holds what "
                    "they confirmed",
                    hint="run again to resume from the committed state",
                )
            )
            self.stop_asked_at = time.monotonic()  # the tap has `drain` seconds to stop
            if self.tap is not None:
                self.tap.signal(signal.SIGTERM)
            return
        log.warning("%s received again: terminating every connector", name)
        self.freeze()
        sig = signal.SIGKILL if self.interrupted > 2 else signal.SIGTERM
        for p in (self.tap, *self.mappers, *self.targets):
            if p is not None:
                p.signal(sig)


class Signals:
    """SIGINT, SIGTERM and SIGHUP for the whole run, clean-up and summary included.

    ``phase`` is SETUP before the connectors start (a signal acts as it did before the job),
    RUNNING while they may run (``on_interrupt`` gets the signal's name), FINISHED once the
    targets are done and the state is written (a signal is logged; the clean-up goes on).
    """

    def __init__(self, on_interrupt: Callable[[str], None]) -> None:
        self.on_interrupt = on_interrupt
        self.phase = SETUP
        self.old_handlers: dict[int, Any] = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Own the signals while the block runs (in the main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield  # embedded in a thread: the host application owns signal handling
            return
        # SIGHUP (the terminal closed, an ssh session dropped) drains like SIGTERM
        self.old_handlers = {s: signal.signal(s, self.handle) for s in DRAIN_SIGNALS}
        try:
            yield
        finally:
            for s, h in self.old_handlers.items():
                signal.signal(s, h)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.phase == SETUP:  # nothing started yet: as if the job had not begun
            self.outside_job(signum, frame)
            return
        name = signal.Signals(signum).name
        if self.phase == FINISHED:
            # The targets are done and the state is written: the job's outcome stands. Finish
            # the clean-up (temp folders hold connector configs) and the report.
            with contextlib.suppress(RuntimeError, OSError):  # a log write it interrupted
                log.warning("%s received after the job finished: finishing its clean-up", name)
            return
        self.on_interrupt(name)

    def outside_job(self, signum: int, frame: FrameType | None) -> None:
        """Handle a signal the way the process did before the job installed its handler."""
        old = self.old_handlers.get(signum, signal.SIG_DFL)
        if callable(old):
            old(signum, frame)  # SIGINT's default raises KeyboardInterrupt
        elif old == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)


def exited(p: ConnectorProcess) -> bool:
    """Whether it has exited, without reaping it (so watch_leftovers can still see its pipe)."""
    if not hasattr(os, "waitid"):  # macOS: reaping is the only way to ask
        return p.proc.poll() is not None
    try:
        return os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True  # already reaped


def _tap_idle(tap: ConnectorProcess, idle: float) -> ConnectorTimeout:
    return ConnectorTimeout(
        f"{tap.label} wrote nothing for {describe(idle)} (idle timeout: no line "
        "on its stdout or stderr); it was stopped, the targets flushed what it "
        "had sent and its last confirmed state was committed.\n"
        f"  last lines of its stderr:\n{tap.tail()}",
        hint="if the tap is alive but quiet that long (a slow report, a long "
        "back-off), raise timeouts.idle in the flow file or --timeout "
        "idle=SECONDS (0 turns it off); the next run resumes from the "
        "committed state",
    )
