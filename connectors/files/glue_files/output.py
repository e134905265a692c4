"""One stream's output file, replaced atomically.

Data is written to a hidden temp file in the output folder (same filesystem, so rename is
atomic). ``publish()`` fsyncs it and renames it over the final name: a reader sees the previous
complete file or the new complete file, never a partial one. After a publish, the next write
starts a fresh temp file from a copy of the published one (a kernel-side copy), so a run that
publishes once (the usual case: no STATE before the end) never copies anything.

CSV header handling lives here too, because the header belongs to the file, not to one schema:
the header is the union of every schema's properties seen for the stream, in first-seen order.
A schema with a column the file lacks widens the header: the file is rewritten with the new
column at the end, earlier rows getting empty cells. Columns a newer schema dropped stay, empty.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems refuse directory fsync
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class OutputFile:
    """The output file of one stream for one run (shared by the stream's successive sinks)."""

    def __init__(
        self,
        path: Path,
        *,
        append: bool,
        csv_format: bool,
        delimiter: str = ",",
    ) -> None:
        self.path = path
        self.append = append
        self.csv = csv_format
        self.delimiter = delimiter
        self._work: IO[bytes] | None = None
        self._work_path: Path | None = None
        self._dirty = False  # the temp file holds something not yet published
        self._published = False  # this run has put a file at self.path
        self.columns: list[str] = []  # CSV header of the file being written
        self._carry: Path | None = None  # the file whose content a new temp starts from
        if append and path.exists():
            self._carry = path
            if self.csv:
                self.columns = read_csv_header(path, delimiter)

    # -- writing -----------------------------------------------------------------------------

    def _open(self) -> IO[bytes]:
        """The temp file, created on first use: empty plus a header, or a copy of the file
        this run continues (the published file, or the old one in append mode)."""
        if self._work is not None:
            return self._work
        fd, name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would surprise readers of the output
        self._work_path = Path(name)
        self._work = work = os.fdopen(fd, "wb", buffering=1 << 20)
        if self._carry is not None:
            with open(self._carry, "rb") as src:
                shutil.copyfileobj(src, work)
        elif self.csv:
            work.write(csv_line(self.columns, self.delimiter))
        self._dirty = True
        return work

    def start(self) -> None:
        """Make sure this run produces the file even if no record arrives (overwrite mode:
        the run's file replaces the previous one; CSV: a header-only file)."""
        if self._work is None and not self._published:
            self._open()

    def write(self, data: bytes) -> None:
        if data:
            self._open().write(data)
            self._dirty = True

    def writer(self) -> Callable[[bytes], Any]:
        """The temp file's buffered ``write``, for a caller writing many records in a row.
        Valid until the next publish() or discard(): fetch it again after either."""
        work = self._open()
        self._dirty = True
        return work.write

    def set_columns(self, properties: list[str]) -> list[str]:
        """Bring the CSV header up to the union with these properties; return the header."""
        new = [p for p in properties if p not in self.columns]
        if not new:
            return self.columns
        if self._work is None and self._carry is None:
            self.columns = self.columns + new  # nothing written yet: the header is still free
            return self.columns
        # Rewrite what exists (the temp file, or the file we continue) with the wider header.
        source = self._carry
        if self._work is not None:
            self._work.flush()
            self._work.close()
            source = self._work_path
            self._work = None
        old = self.columns
        self.columns = old + new
        self._carry = None
        work = self._open()  # a fresh temp file with the new header
        assert source is not None
        pad = [""] * len(new)
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=self.delimiter, lineterminator="\n")
        with open(source, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh, delimiter=self.delimiter)
            next(reader, None)  # the old header
            for row in reader:
                writer.writerow(row + pad)
                if buf.tell() > 1 << 20:
                    work.write(buf.getvalue().encode())
                    buf.seek(0)
                    buf.truncate()
        work.write(buf.getvalue().encode())
        if source != self.path:
            source.unlink(missing_ok=True)
        return self.columns

    # -- publishing --------------------------------------------------------------------------

    def publish(self) -> bool:
        """Make everything written so far the content of the final file; True if it did."""
        if not self._dirty or self._work is None or self._work_path is None:
            return False
        work = self._work
        work.flush()
        os.fsync(work.fileno())
        work.close()
        os.replace(self._work_path, self.path)
        _fsync_dir(self.path.parent)
        self._work = None
        self._work_path = None
        self._dirty = False
        self._published = True
        self._carry = self.path  # more data this run continues from the published file
        return True

    def discard(self) -> None:
        """Drop unpublished data (a failed run): the final file stays as last published."""
        if self._work is not None:
            with contextlib.suppress(OSError):
                self._work.close()
            self._work = None
        if self._work_path is not None:
            self._work_path.unlink(missing_ok=True)
            self._work_path = None
        self._dirty = False


def csv_line(cells: list[Any], delimiter: str) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerow(cells)
    return buf.getvalue().encode()


def read_csv_header(path: Path, delimiter: str) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh, delimiter=delimiter), [])
