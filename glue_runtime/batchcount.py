"""Counting the rows of the files BATCH messages name, so a job's counts are not 0.

A BATCH message carries no row count, only a manifest of file URLs. Where it is cheap the rows
are counted: a local file (``file://`` URL or a plain path) in ``jsonl`` (one row a line, gzip
or not) or ``parquet`` (its footer's row count; only when pyarrow is installed). Anything else
(object storage, another format, a file already gone) is reported as a number of batch files.

Counting runs in one background thread so a huge file never holds up the messages; the job
waits for it once at the end. Each file is counted once, however many times it is named.
"""

from __future__ import annotations

import gzip
import logging
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from glue_runtime.protocol import loads_line

log = logging.getLogger("glue_runtime.job")

CHUNK = 1 << 20


@dataclass
class BatchCounts:
    """Per stream: files named, and how many of them could not be counted (rows unknown)."""

    files: int = 0
    uncounted: int = 0
    rows: int = 0


def _local_path(url: str) -> Path | None:
    parsed = urlparse(url)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and url.startswith("/"):
        return Path(url)
    return None


def _count_lines(path: Path) -> int:
    """Rows of a JSON-lines file (gzip by its magic bytes, else plain)."""
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: Any = gzip.GzipFile(fileobj=raw) if gz else raw
        n = 0
        last = b"\n"
        while chunk := stream.read(CHUNK):
            n += chunk.count(b"\n")
            last = chunk[-1:]
        return n if last == b"\n" else n + 1  # a last row without its newline


def _count_parquet(path: Path) -> int | None:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    return int(pq.ParquetFile(path).metadata.num_rows)


def read_rows(url: str, encoding: Any) -> Iterator[Any]:
    """The rows of one batch file (local jsonl, gzip or not; parquet with pyarrow).

    Raises ValueError saying why when the file cannot be read here (for those that must land
    every row, unlike the counting, which may give up).
    """
    path = _local_path(url)
    fmt = encoding.get("format") if isinstance(encoding, dict) else None
    if path is None:
        raise ValueError(f"batch file {url} is not a local file (only file:// URLs are read)")
    if fmt == "jsonl":
        with open(path, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream: Any = gzip.GzipFile(fileobj=raw) if gz else raw
            for line in stream:
                if not line.isspace():
                    yield loads_line(line)  # numbers exact, as for RECORD lines
    elif fmt == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError(
                f"batch file {url} is parquet and pyarrow is not installed "
                "(pip install 'glue-runtime[parquet]')"
            ) from None
        for batch in pq.ParquetFile(path).iter_batches():
            yield from batch.to_pylist()
    else:
        raise ValueError(f"batch file {url} has format {fmt!r} (jsonl and parquet are read)")


def count_rows(url: str, encoding: Any) -> int | None:
    """The rows of one batch file, or None where that is not cheap or not possible."""
    path = _local_path(url)
    fmt = encoding.get("format") if isinstance(encoding, dict) else None
    if path is None or fmt not in ("jsonl", "parquet"):
        return None
    try:
        if not path.is_file():
            return None
        return _count_lines(path) if fmt == "jsonl" else _count_parquet(path)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        log.debug("batch file %s could not be counted: %s", url, exc)
        return None
    except Exception as exc:  # pyarrow's own errors: a file it cannot read is not counted
        log.debug("batch file %s could not be counted: %r", url, exc)
        return None


@dataclass
class BatchCounter:
    """Counts the files of BATCH messages read from the tap and sent to the targets."""

    rows: dict[str, int | None] = field(default_factory=dict)  # url -> rows (None: unknown)
    seen_in: list[tuple[str, str]] = field(default_factory=list)  # (stream, url)
    seen_out: list[tuple[str, str]] = field(default_factory=list)
    _queue: queue.SimpleQueue[tuple[str, Any] | None] = field(default_factory=queue.SimpleQueue)
    _thread: threading.Thread | None = None
    _queued: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _submit(self, msg: dict[str, Any], seen: list[tuple[str, str]]) -> None:
        stream = msg.get("stream")
        manifest = msg.get("manifest")
        if not isinstance(stream, str) or not isinstance(manifest, list):
            return
        with self._lock:  # with mappers, the tap's side is read in a thread of its own
            self._add(stream, manifest, msg.get("encoding"), seen)

    def _add(
        self, stream: str, manifest: list[Any], encoding: Any, seen: list[tuple[str, str]]
    ) -> None:
        for url in manifest:
            if not isinstance(url, str):
                continue
            seen.append((stream, url))
            if url in self._queued:
                continue
            self._queued.add(url)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="batch-count", daemon=True)
                self._thread.start()
            self._queue.put((url, encoding))

    def read(self, msg: dict[str, Any]) -> None:
        """A BATCH message from the tap."""
        self._submit(msg, self.seen_in)

    def sent(self, msg: dict[str, Any]) -> None:
        """A BATCH message written to the targets."""
        self._submit(msg, self.seen_out)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            url, encoding = item
            self.rows[url] = count_rows(url, encoding)

    def finish(self) -> tuple[dict[str, BatchCounts], dict[str, BatchCounts]]:
        """Wait for the counting; the counts per stream, of the files read and of those sent."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

        def tally(seen: list[tuple[str, str]]) -> dict[str, BatchCounts]:
            out: dict[str, BatchCounts] = {}
            for stream, url in seen:
                c = out.setdefault(stream, BatchCounts())
                c.files += 1
                n = self.rows.get(url)
                if n is None:
                    c.uncounted += 1
                else:
                    c.rows += n
            return out

        return tally(self.seen_in), tally(self.seen_out)
