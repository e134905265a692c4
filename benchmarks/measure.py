"""Run one command in a fresh process tree; measure wall time and peak memory.

Peak memory is measured two ways, both reported:

- ``tree_peak_mb``: the sum of the resident set sizes of every process in the tree (the root and
  all its descendants), sampled from /proc every ``POLL_S`` seconds; its maximum over the run.
  This is what a pipeline of several processes costs the machine. Sampling can miss a peak
  shorter than the interval; for streaming pipelines memory moves slowly, so it does not.
- ``max_process_mb``: the largest single process's peak RSS, exact, from the kernel's
  ``ru_maxrss`` as returned by wait4() on the root (it covers the root and the descendants it
  waited for).

``root_peak_mb`` is the root process's own sampled peak (for glue runs: the runner itself).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

POLL_S = 0.02
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Measurement:
    wall_s: float
    returncode: int
    tree_peak_mb: float
    root_peak_mb: float
    max_process_mb: float
    stdout: bytes
    stderr_tail: str
    cpu_s: float = 0.0  # user + system time of the root and the descendants it waited for

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 4),
            "returncode": self.returncode,
            "tree_peak_mb": round(self.tree_peak_mb, 1),
            "root_peak_mb": round(self.root_peak_mb, 1),
            "max_process_mb": round(self.max_process_mb, 1),
            "cpu_s": round(self.cpu_s, 4),
        }


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids.extend(int(x) for x in fh.read().split())
    return kids


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _tree(root: int) -> list[int]:
    seen, todo = [], [root]
    while todo:
        pid = todo.pop()
        seen.append(pid)
        todo.extend(_children(pid))
    return seen


class _Sampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.tree_peak = 0
        self.root_peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            total = 0
            for pid in _tree(self.root):
                rss = _rss(pid)
                total += rss
                if pid == self.root and rss > self.root_peak:
                    self.root_peak = rss
            self.tree_peak = max(self.tree_peak, total)
            self.stop.wait(POLL_S)


def run(
    argv: list[str],
    *,
    stdin: Path | None = None,
    stdout: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 1800,
) -> Measurement:
    """Run ``argv``; stdin from a file (or nothing), stdout to a file (or captured)."""
    with contextlib.ExitStack() as stack:
        fin: IO[bytes] | int = (
            stack.enter_context(open(stdin, "rb")) if stdin else subprocess.DEVNULL
        )
        fout: IO[bytes] | int = (
            stack.enter_context(open(stdout, "wb")) if stdout else subprocess.PIPE
        )
        # stderr to a temp file: a chatty peer must not block on a full pipe
        errf = stack.enter_context(tempfile.NamedTemporaryFile(prefix="bench-stderr-"))
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=fin, stdout=fout, stderr=errf, env=env, cwd=cwd)
        sampler = _Sampler(proc.pid)
        sampler.start()
        out = b""
        if proc.stdout is not None:
            reader_buf: list[bytes] = []
            reader = threading.Thread(
                target=lambda: reader_buf.append(proc.stdout.read()),  # type: ignore[union-attr]
                daemon=True,
            )
            reader.start()
        deadline = start + timeout_s
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
            time.sleep(0.002)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop.set()
        sampler.join()
        if proc.stdout is not None:
            reader.join()
            out = reader_buf[0] if reader_buf else b""
            proc.stdout.close()
        errf.flush()
        size = os.fstat(errf.fileno()).st_size
        errf.seek(max(0, size - 3000))
        tail = errf.read().decode("utf-8", "replace")
    return Measurement(
        wall_s=wall,
        returncode=proc.returncode,
        tree_peak_mb=sampler.tree_peak / 1e6,
        root_peak_mb=sampler.root_peak / 1e6,
        max_process_mb=rusage.ru_maxrss * 1024 / 1e6,
        stdout=out,
        stderr_tail=tail,
        cpu_s=rusage.ru_utime + rusage.ru_stime,
    )
