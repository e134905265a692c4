"""Test helpers: the fake Singer executables and a CLI runner that starts a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SINGER = Path(__file__).parent / "singer"
FAKE_TAP = str(SINGER / "fake_tap.py")
FAKE_TARGET = str(SINGER / "fake_target.py")


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> CliResult:
    """Run ``python -m glue_runtime ARGS`` as a real process."""
    proc = subprocess.run(
        [sys.executable, "-m", "glue_runtime", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# Deadlines for waiting on an event: generous, since a loaded 2-core run can be slow. They
# bound a failing test; a passing one never waits them out.
WAIT_S = 60.0


def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll ``check`` until it returns something truthy (returned); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


class LineWatcher:
    """Reads a process's text stream in a thread, so a test can wait for a line to appear."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, text: str, count: int = 1, timeout: float = WAIT_S) -> None:
        """Wait until ``count`` lines holding ``text`` were read; fail with what was read."""

        def enough() -> bool:
            return sum(text in line for line in self.lines) >= count

        with self._cond:
            if not self._cond.wait_for(enough, timeout):
                raise AssertionError(
                    f"gave up after {timeout:.0f} s waiting for {count} line(s) with {text!r}; "
                    f"read so far:\n{''.join(self.lines)[-3000:]}"
                )

    def text(self, timeout: float = WAIT_S) -> str:
        """Everything read, once the stream has closed."""
        self._thread.join(timeout)
        with self._cond:
            return "".join(self.lines)
