"""Finding a stream's input files and reading their rows, with errors that name file and line."""

from __future__ import annotations

import csv
import glob
import gzip
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
FORMATS = ("csv", "jsonl")
GZIP = ".gz"  # data.csv.gz is read as data.csv, decompressed on the fly

# CSV cells may be long (JSON blobs, notes); lift the stdlib's 128 KiB cap.
csv.field_size_limit(64 * 1024 * 1024)


class FilesError(Exception):
    """A problem with a stream's files or their contents; the message says which and where."""


@dataclass(frozen=True)
class InputFile:
    path: str
    format: str  # "csv" or "jsonl"
    delimiter: str


def data_extension(path: str) -> str:
    """The extension that says the format: ``.csv`` for both data.csv and data.csv.gz."""
    base, ext = os.path.splitext(path.lower())
    return os.path.splitext(base)[1] if ext == GZIP else ext


def open_text(path: str) -> IO[str]:
    """A file for the csv module (newline="" as it asks, a UTF-8 BOM dropped); .gz decompressed."""
    if path.lower().endswith(GZIP):
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


def open_binary(path: str) -> IO[bytes]:
    if path.lower().endswith(GZIP):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def file_format(path: str, configured: str | None) -> str:
    """The configured format, else the one the extension implies."""
    if configured:
        return configured
    ext = data_extension(path)
    if ext not in EXTENSIONS:
        raise FilesError(
            f"Cannot tell the format of '{path}' from its extension; set the stream's "
            f"'format' to one of {', '.join(FORMATS)}."
        )
    return EXTENSIONS[ext]


def find_files(
    stream: str, pattern: str, fmt: str | None, delimiter: str | None
) -> list[InputFile]:
    """The stream's files in sorted path order: a folder means the data files directly in it
    (those of the stream's format, or of any known extension); anything else is a glob (``**``
    recurses). Hidden files are skipped (they are partial outputs, e.g. target-files' temp
    files)."""
    expanded = os.path.expanduser(pattern)
    if os.path.isdir(expanded):
        wanted = {e for e, f in EXTENSIONS.items() if fmt in (None, f)}
        names = [
            os.path.join(expanded, n) for n in os.listdir(expanded) if data_extension(n) in wanted
        ]
    else:
        names = glob.glob(expanded, recursive=True)
    paths = sorted(
        p for p in names if os.path.isfile(p) and not os.path.basename(p).startswith(".")
    )
    if not paths:
        where = "folder" if os.path.isdir(expanded) else "pattern"
        raise FilesError(
            f"Stream '{stream}': the {where} '{pattern}' matches no files "
            f"(looked in {os.path.abspath(expanded)}); check the stream's 'path'."
        )
    out = []
    for p in paths:
        f = file_format(p, fmt)
        delim = delimiter or ("\t" if data_extension(p) == ".tsv" else ",")
        out.append(InputFile(p, f, delim))
    return out


def mtime_ns(path: str) -> int:
    return os.stat(path).st_mtime_ns


# -- CSV --------------------------------------------------------------------------------------


def csv_rows(f: InputFile) -> Iterator[tuple[list[str], int, list[str]]]:
    """(header, line number, cells) for each data row; blank lines are skipped. A row whose
    number of cells differs from the header's, or text the csv module cannot parse, is an error
    naming the file and line."""
    with open_text(f.path) as fh:
        reader = csv.reader(fh, delimiter=f.delimiter, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                return
            width = len(header)
            for row in reader:
                if len(row) != width:
                    if not row:
                        continue
                    raise FilesError(
                        f"{f.path}, line {reader.line_num}: the row has {len(row)} values but "
                        f"the header has {width} ({', '.join(header)}); fix the row or its "
                        "quoting."
                    )
                yield header, reader.line_num, row
        except csv.Error as exc:
            raise FilesError(
                f"{f.path}, line {reader.line_num}: malformed CSV ({exc}); fix the quoting."
            ) from None
        except UnicodeDecodeError as exc:
            raise FilesError(
                f"{f.path}: not UTF-8 text near byte {exc.start} (line {reader.line_num + 1}); "
                "convert the file to UTF-8."
            ) from None
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise _bad_gzip(f.path, exc) from None


def csv_header(f: InputFile) -> list[str]:
    with open_text(f.path) as fh:
        try:
            return next(csv.reader(fh, delimiter=f.delimiter, strict=True), [])
        except csv.Error as exc:
            raise FilesError(f"{f.path}, line 1: malformed CSV header ({exc}).") from None
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise _bad_gzip(f.path, exc) from None


def _bad_gzip(path: str, exc: Exception) -> FilesError:
    return FilesError(
        f"{path}: not a complete gzip file ({exc or type(exc).__name__}); recompress it, or "
        "drop the .gz from its name if it is not compressed."
    )


# -- JSON lines -------------------------------------------------------------------------------


def jsonl_records(f: InputFile) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; anything but a JSON object is an error
    naming the file and line."""
    loads = orjson.loads
    with open_binary(f.path) as fh:
        for n, line in _lines(fh, f.path):
            try:
                value = loads(line)
            except orjson.JSONDecodeError as exc:
                if not line.strip():
                    continue
                excerpt = line[:80].decode("utf-8", "replace").rstrip()
                raise FilesError(
                    f"{f.path}, line {n}: not valid JSON ({exc}): {excerpt!r}"
                ) from None
            if not isinstance(value, dict):
                raise FilesError(
                    f"{f.path}, line {n}: expected a JSON object per line, got "
                    f"{type(value).__name__}."
                )
            yield n, value


def _lines(fh: IO[bytes], path: str) -> Iterator[tuple[int, bytes]]:
    try:
        yield from enumerate(fh, 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise _bad_gzip(path, exc) from None


def display_path(path: str) -> str:
    """The path as recorded in _sdc_path: as matched (relative stays relative)."""
    return Path(path).as_posix()
