"""Running one connector as a subprocess: its files, its pipes, its stderr, its end.

Config, catalog and state files go to a private temporary folder (mode 0700) that is removed
when the process is done. Stderr is read by a thread that relays each line to the log, labelled
with the connector, and keeps the tail for error messages. Lines are read in bounded pieces: a
stderr line over STDERR_LINE_BYTES is logged cut (saying so) and the rest of it skipped, so a
connector printing a huge line without a newline cannot take the runner's memory with it.

A connector dies with the runner: on Linux each is started with a parent-death signal (SIGTERM),
so a runner killed with kill -9 leaves none running. Such a runner cannot remove its temporary
folders (which hold the connectors' configs, credentials included): their names carry the
owner's pid and start time, and the next run removes the folders whose owner is gone.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import fcntl
import io
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, cast

from glue_runtime.errors import ConnectorError, ConnectorTimeout
from glue_runtime.logs import ConnectorLines
from glue_runtime.protocol import dumps_exact, loads_exact
from glue_runtime.secrets import Redactor

log = logging.getLogger("glue_runtime.connector")

STDERR_TAIL_LINES = 40
STDERR_LINE_BYTES = 64 * 1024  # a longer stderr line is logged cut
REDACT_OVERLAP_BYTES = 4096  # read past a cut, so a secret across it is still redacted whole
_SKIP_CHUNK = 1024 * 1024


def skip_rest_of_line(readline: Any, on_chunk: Any = None) -> int:
    """Read and drop the rest of an over-long line, a chunk at a time; the bytes dropped."""
    dropped = 0
    while True:
        chunk = readline(_SKIP_CHUNK)
        if not chunk:
            return dropped
        dropped += len(chunk)
        if on_chunk is not None:
            on_chunk()
        if chunk[-1:] == b"\n":
            return dropped


def log_lines(
    stream: Any, redact: Callable[[str], str], on_read: Callable[[], None] | None = None
) -> Iterator[str]:
    """The non-blank lines of a pipe, for a log: decoded, redacted, each cut at
    STDERR_LINE_BYTES (saying so), so that memory stays bounded whatever the other side writes.

    A cut line is redacted with a little more than what is shown, so a secret across the cut
    is masked whole; the rest of it is read and dropped in pieces.
    """
    readline = stream.readline
    limit = STDERR_LINE_BYTES
    while raw := readline(limit):
        if on_read is not None:
            on_read()
        if len(raw) < limit or raw[-1:] == b"\n":
            line = redact(raw.decode("utf-8", "replace").rstrip())
        else:
            overlap = readline(REDACT_OVERLAP_BYTES)
            total = len(raw) + len(overlap)
            if overlap[-1:] != b"\n":
                total += skip_rest_of_line(readline, on_read)
            text = redact((raw + overlap).decode("utf-8", "replace").rstrip())
            line = (
                f"{text[:limit]} ... [line cut: {total:,} bytes, "
                f"only the first {limit:,} are shown]"
            )
        if line:
            yield line


class _ActivityReader(io.RawIOBase):
    """A pipe's reading end that notes when data last arrived (once per read, not per line).

    The idle timeout needs to know whether the tap still writes, without any work per line.
    """

    def __init__(self, raw: Any, owner: ConnectorProcess) -> None:
        super().__init__()
        self._raw = raw
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        n = self._raw.readinto(buffer)
        if n:
            self._owner.last_activity = self._owner.last_read = time.monotonic()
        return n

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.close()
        super().close()


_PR_SET_PDEATHSIG = 1


def _find_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _find_prctl()  # looked up once, here: the child between fork and exec only calls it
_SIGTERM = int(signal.SIGTERM)
_HAVE_PROC = os.path.isdir("/proc/self")


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux).

    The signal is sent when the *thread* that started the child ends: the runner starts its
    connectors from the thread that runs the job, which outlives them. If this process died
    before the child set the signal up, the child stops at once instead of running orphaned.
    Elsewhere: None (no such mechanism; the next run still removes the temporary folders).
    """
    prctl = _PRCTL
    if prctl is None:
        return None
    parent = os.getpid()

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, _SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # no signal here: this copy still has the runner's handlers
            os._exit(1)

    return setup


def _start_time(pid: int) -> tuple[str, bool] | None:
    """A process's start time (clock ticks since boot) and whether it is a zombie; None if
    there is no such process. Without /proc (not Linux): ("0", False) for a live process."""
    if _HAVE_PROC:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            return fields[19].decode(), fields[0] in (b"Z", b"X")
        except FileNotFoundError:
            return None
        except (OSError, IndexError):
            pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return "0", False


def _owner_tag() -> str:
    found = _start_time(os.getpid())
    return f"p{os.getpid()}.{found[0] if found else 0}"


# glue-<label>-p<pid>.<start time>-<mkdtemp's 8 random characters>
_FOLDER = re.compile(r"glue-.+-p(\d+)\.(\d+)-[a-z0-9_]{8}")


def _owner_gone(pid: int, start: str) -> bool:
    found = _start_time(pid)
    if found is None or found[1]:  # no such process, or a zombie: it cleans nothing now
        return True
    return start != "0" and found[0] != "0" and found[0] != start  # the pid was reused


def remove_stale_folders(parent: str | None = None) -> list[Path]:
    """Remove the connector folders of runs that died without cleaning up (kill -9).

    Only this user's folders whose owner process is gone; returns what was removed.
    """
    base = Path(parent or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    uid = os.getuid()
    for entry in entries:
        m = _FOLDER.fullmatch(entry.name)
        if m is None:
            continue
        with contextlib.suppress(OSError):
            if entry.is_symlink() or not entry.is_dir() or entry.stat().st_uid != uid:
                continue
            if _owner_gone(int(m.group(1)), m.group(2)):
                shutil.rmtree(entry.path, ignore_errors=True)
                if not os.path.exists(entry.path):
                    removed.append(Path(entry.path))
    if removed:
        log.info(
            "removed %d temporary connector folder(s) left by runs that were killed: %s",
            len(removed),
            ", ".join(str(p) for p in removed),
        )
    return removed


class ConnectorFiles:
    """A private folder for one connector's config/catalog/state files.

    Named after its owner (pid and start time), so that a later run can tell it was left
    behind by a runner that was killed, and remove it (see remove_stale_folders).
    """

    def __init__(self, label: str) -> None:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
        self.dir = Path(tempfile.mkdtemp(prefix=f"glue-{safe}-{_owner_tag()}-"))
        os.chmod(self.dir, 0o700)

    def write_json(self, name: str, value: Any) -> Path:
        path = self.dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(dumps_exact(value))
        return path

    def read_json(self, name: str) -> Any:
        return loads_exact((self.dir / name).read_bytes())

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# Never handed to a connector or an ETL script: the workspace's secret key (it decrypts every
# tenant's credentials) and the store's URL (it may carry the database's password). A job gives
# a connector only its own config; nothing it runs needs the store.
WITHHELD_ENV = frozenset({"GLUE_SECRET_KEY", "GLUE_STORE_URL"})


def child_environ(env: dict[str, str] | None) -> dict[str, str]:
    """The environment of a child process: ``env`` (else ours) without :data:`WITHHELD_ENV`."""
    base = os.environ if env is None else env
    return {k: v for k, v in base.items() if k not in WITHHELD_ENV}


class ConnectorProcess:
    """One running connector: a Popen with a stderr relay and a bounded tail of its output."""

    def __init__(
        self,
        label: str,
        argv: Sequence[str],
        *,
        stdin: bool | IO[bytes],
        redactor: Redactor,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        log_level: int = logging.INFO,
    ) -> None:
        self.label = label
        self.argv = list(argv)
        self.redactor = redactor
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._log_level = log_level
        self.last_activity = time.monotonic()  # the last output on its stdout or stderr
        self.last_read = self.last_activity  # the last time the job read from its stdout
        self.lines = ConnectorLines(log_level)
        try:
            self.proc = subprocess.Popen(
                self.argv,
                # True: a pipe from us; False: nothing; a file: another process's output
                stdin=subprocess.PIPE if stdin is True else (stdin or subprocess.DEVNULL),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_environ(env),
                cwd=cwd,
                bufsize=1024 * 1024,
                start_new_session=True,  # our own signal handling decides what reaches it
                preexec_fn=die_with_parent(),  # sets the parent-death signal (only prctl)
            )
        except OSError as exc:
            raise ConnectorError(
                f"{label}: could not start {self.argv[0]!r}: {exc.strerror}",
                hint="check that the connector is installed and executable "
                "(`glue connectors list`)",
            ) from None
        if self.proc.stdout is not None:  # same buffering, plus a note of when data arrives
            self.proc.stdout = io.BufferedReader(
                _ActivityReader(cast(io.BufferedReader, self.proc.stdout).detach(), self),
                1024 * 1024,
            )
        self._stderr_thread = threading.Thread(
            target=self._relay_stderr, name=f"{label}-stderr", daemon=True
        )
        self._stderr_thread.start()

    @property
    def stdin(self) -> IO[bytes]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    @property
    def stdout(self) -> IO[bytes]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _relay_stderr(self) -> None:
        err = self.proc.stderr
        assert err is not None
        logger = log.getChild(self.label)
        redact = self.redactor.redact
        classify = self.lines.classify
        try:
            for line in log_lines(err, redact, self._touch):
                level, text, keep = classify(line)  # its own level, one timestamp, no traceback
                if keep:
                    self.stderr_tail.append(text)
                logger.log(level, text, extra={"connector": self.label})
        finally:
            with contextlib.suppress(OSError, ValueError):
                err.close()  # at its end, not whenever the garbage collector gets to it

    def _touch(self) -> None:
        self.last_activity = time.monotonic()

    def close_stdin(self) -> bool:
        """Flush and close our end of its stdin; False if it no longer reads (broken pipe)."""
        if self.proc.stdin is None or self.proc.stdin.closed:
            return True
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            return False
        except (OSError, ValueError):
            pass
        return True

    def close_stdout(self) -> None:
        """Close our end of its stdout (from the thread that reads it), so writes fail at once."""
        if self.proc.stdout is not None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdout.close()

    def stdout_writers(self) -> list[int]:
        """The processes, other than our own, that hold its stdout pipe open for writing.

        After it exits, these are what it started and left behind with its stdout: while any
        is alive, reading never ends. Found in /proc (Linux): an fd linking to the pipe,
        opened write-only.
        """
        out = self.proc.stdout
        if out is None or out.closed:
            return []
        try:
            target = f"pipe:[{os.fstat(out.fileno()).st_ino}]"
            entries = os.listdir("/proc")
        except (OSError, ValueError):
            return []
        me = os.getpid()
        writers = []
        for entry in entries:
            if not entry.isdigit() or int(entry) == me:
                continue
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{entry}/fd"):
                    if os.readlink(f"/proc/{entry}/fd/{fd}") != target:
                        continue
                    with open(f"/proc/{entry}/fdinfo/{fd}") as fh:
                        flags = next(ln for ln in fh if ln.startswith("flags:")).split()[1]
                    if int(flags, 8) & os.O_ACCMODE == os.O_WRONLY:
                        writers.append(int(entry))
                        break
        return writers

    def output_pending(self) -> bool:
        """True if the pipe from its stdout holds bytes not yet read."""
        out = self.proc.stdout
        if out is None or out.closed:
            return False
        waiting = array.array("i", [0])
        try:
            fcntl.ioctl(out.fileno(), termios.FIONREAD, waiting)
        except (OSError, ValueError):
            return False
        return waiting[0] > 0

    def input_pending(self) -> int:
        """Bytes written to its stdin that it has not read yet (0 if unknown)."""
        pipe = self.proc.stdin
        if pipe is None or pipe.closed:
            return 0
        waiting = array.array("i", [0])
        try:
            fcntl.ioctl(pipe.fileno(), termios.FIONREAD, waiting)
        except (OSError, ValueError):
            return 0
        return waiting[0]

    def kill_group(self, also: Iterable[int] = ()) -> None:
        """SIGKILL what is left of its process group (it runs in a session of its own).

        ``also``: further processes to kill (ones it started that left its group).
        """
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in also:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self.proc.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()

    def wait(self, timeout: float | None = None) -> int:
        code = self.proc.wait(timeout)
        self._stderr_thread.join(5)
        return code

    def close(self, stdout: bool = True) -> None:
        """Close every pipe to it now, rather than when the garbage collector runs.

        ``stdout=False`` leaves its stdout to the thread still reading it (closing a buffered
        pipe another thread reads from would block). Stderr is closed by its relay thread at
        its end; one still running (a process it left behind holds the pipe) keeps it.
        """
        pipes = [self.proc.stdin, self.proc.stdout if stdout else None]
        if not self._stderr_thread.is_alive():
            pipes.append(self.proc.stderr)
        for pipe in pipes:
            if pipe is not None:
                with contextlib.suppress(OSError, ValueError):
                    pipe.close()

    def tail(self, lines: int = 15) -> str:
        """Its last stderr lines for an error report; a traceback's frames only under -v."""
        items = [f"    {line}" for line in list(self.stderr_tail)[-lines:]]
        if self.lines.traceback_lines and not log.getChild(self.label).isEnabledFor(logging.DEBUG):
            items.append(
                f"    ({self.lines.traceback_lines} lines of traceback left out: "
                "run with -v to see them)"
            )
        return "\n".join(items) or "    (it wrote nothing to stderr)"

    def describe_exit(self, code: int) -> str:
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"was killed by {signal.Signals(-code).name}"
            return f"was killed by signal {-code}"
        return f"exited with code {code}"


def terminate_all(procs: Iterable[ConnectorProcess], grace: float = 10.0) -> None:
    for p in procs:
        p.signal(signal.SIGTERM)
    for p in procs:
        p.stop(grace)


def run_to_end(
    label: str,
    argv: Sequence[str],
    *,
    what: str,
    timeout: float | None,
    redactor: Redactor,
    cwd: str | None = None,
    setting: str,
) -> tuple[int, bytes, ConnectorProcess]:
    """Run a connector for one answer (``--about``, ``--discover``): its exit code and stdout.

    It runs like a job's connectors (its own session, pipes, stderr relayed at DEBUG and kept
    for errors) and dies with the runner. Past ``timeout`` seconds it is stopped and
    ConnectorTimeout names it, ``what`` it was asked and the ``setting`` that raises the limit.
    """
    proc = ConnectorProcess(
        label, [*argv], stdin=False, redactor=redactor, cwd=cwd, log_level=logging.DEBUG
    )
    chunks: list[bytes] = []
    reader = threading.Thread(
        target=lambda: chunks.append(proc.stdout.read()), name=f"{label}-stdout", daemon=True
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            raise _timed_out(proc, what, timeout, setting)
        try:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            code = proc.wait(left)
        except subprocess.TimeoutExpired:
            raise _timed_out(proc, what, timeout, setting) from None
    finally:
        if proc.proc.poll() is None:
            proc.stop(grace=2)
        proc.kill_group()  # what it started goes with it
        reader.join(5)
        proc.close(stdout=not reader.is_alive())
    return code, b"".join(chunks), proc


def _timed_out(
    proc: ConnectorProcess, what: str, timeout: float | None, setting: str
) -> ConnectorTimeout:
    from glue_runtime.timeouts import describe

    assert timeout is not None
    proc.stop(grace=2)
    proc.kill_group()
    return ConnectorTimeout(
        f"{proc.label} {what} did not finish within {describe(timeout)}; it was stopped.\n"
        f"  last lines of its stderr:\n{proc.tail()}",
        hint=f"if it is slow rather than stuck, raise the limit: {setting} (0 turns it off)",
    )
