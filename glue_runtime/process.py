"""Running one connector as a subprocess: its files, its pipes, its stderr, its end.

Config, catalog and state files go to a private temporary folder (mode 0700) that is removed
when the process is done. Stderr is read by a thread that relays each line to the log, labelled
with the connector, and keeps the tail for error messages.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import termios
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from glue_runtime.errors import ConnectorError
from glue_runtime.logs import ConnectorLines
from glue_runtime.protocol import dumps_exact, loads_exact
from glue_runtime.secrets import Redactor

log = logging.getLogger("glue_runtime.connector")

STDERR_TAIL_LINES = 40


class ConnectorFiles:
    """A private folder for one connector's config/catalog/state files."""

    def __init__(self, label: str) -> None:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
        self.dir = Path(tempfile.mkdtemp(prefix=f"glue-{safe}-"))
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


class ConnectorProcess:
    """One running connector: a Popen with a stderr relay and a bounded tail of its output."""

    def __init__(
        self,
        label: str,
        argv: Sequence[str],
        *,
        stdin: bool,
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
        self.lines = ConnectorLines(log_level)
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
                bufsize=1024 * 1024,
                start_new_session=True,  # our own signal handling decides what reaches it
            )
        except OSError as exc:
            raise ConnectorError(
                f"{label}: could not start {self.argv[0]!r}: {exc.strerror}",
                hint="check that the connector is installed and executable "
                "(`glue connectors list`)",
            ) from None
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
        assert self.proc.stderr is not None
        logger = log.getChild(self.label)
        redact = self.redactor.redact
        classify = self.lines.classify
        for raw in self.proc.stderr:
            line = redact(raw.decode("utf-8", "replace").rstrip())
            if not line:
                continue
            level, text, keep = classify(line)  # its own level, one timestamp, no traceback
            if keep:
                self.stderr_tail.append(text)
            logger.log(level, text, extra={"connector": self.label})

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
