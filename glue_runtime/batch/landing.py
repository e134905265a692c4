"""The landing target: writes a tap's selected output per stream into a job's ``sync-output/``.

Run by batch ETL jobs as ``python -m glue_runtime.batch.landing --config CONFIG`` (a real Singer
target process). Config: ``output_dir``, ``format`` (``jsonl``, ``csv`` or ``parquet``). It
writes ``<stream>.jsonl`` (or ``.csv``, nested values as JSON; or ``.parquet``, see below),
``_schemas.json`` (stream -> schema, key properties and the stream's data files) and
``_state.json`` (the tap's last STATE). Numbers stay exact: a number a float cannot hold is
written with all its digits (in CSV too). It confirms no STATE: a
batch job commits bookmarks only after its targets have loaded the ETL output. The rows of a
tap's BATCH messages are landed like RECORDs, read from their files (local jsonl, gzip or not,
or parquet); a BATCH file it cannot read fails the landing, naming the stream and the file.

Parquet (needs the ``parquet`` extra, ``pip install glue_runtime[parquet]``; pyarrow is imported
only for this format) is written in row groups of :data:`PARQUET_BATCH_ROWS` records, so memory
stays flat. The Arrow schema comes from the stream's JSON schema properties, every column
nullable: ``integer`` -> int64, ``number`` (or integer-or-number) -> float64, ``boolean`` -> bool,
``string`` (date-time strings too) -> string; objects, arrays and anything else -> a string
holding the value as JSON. Fields not in the schema's properties are dropped. When a stream sends
a SCHEMA whose Arrow schema differs from the one its file was opened with, that file is closed
and the stream goes on in ``<stream>.2.parquet`` (then ``.3``, ...); ``_schemas.json`` lists a
stream's files in order under ``files`` and keeps the stream's last schema.
"""

from __future__ import annotations

import csv
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from glue_runtime.batchcount import read_rows
from glue_runtime.protocol import dumps_exact, loads_line

FORMATS = ("jsonl", "csv", "parquet")
PARQUET_BATCH_ROWS = 10_000
_SIMPLE = ("integer", "number", "boolean", "string")


def _csv_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return dumps_exact(value).decode()
    return value  # a Decimal or big integer is written as its digits


def _json_types(schema: Any) -> set[str] | None:
    """The non-null JSON types a property schema allows; None when it allows anything."""
    if not isinstance(schema, dict):
        return None
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list) and "type" not in schema:
        found: set[str] = set()
        for branch in branches:
            types = _json_types(branch)
            if types is None:
                return None
            found |= types
        return found
    declared = schema.get("type")
    if declared is None:
        return None
    types = {declared} if isinstance(declared, str) else set(declared)
    types.discard("null")
    return types


def _column_kind(schema: Any) -> str:
    """integer, number, boolean, string or json (a string holding the value as JSON)."""
    types = _json_types(schema)
    if types is None or not types:
        return "json"
    if types == {"integer", "number"}:
        return "number"
    if len(types) == 1 and next(iter(types)) in _SIMPLE:
        return next(iter(types))
    return "json"


def _to_json(value: Any) -> str | None:
    if value is None:
        return None
    return dumps_exact(value).decode()  # numbers exact (Decimals, integers over 64 bits)


def _to_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _to_float(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _to_str(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return _to_json(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "integer": _to_int,
    "number": _to_float,
    "boolean": lambda v: v,
    "string": _to_str,
    "json": _to_json,
}


def _import_pyarrow(stream: str) -> tuple[Any, Any]:
    try:
        import pyarrow as pa  # only the parquet format needs it
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise SystemExit(
            f"landing: stream {stream!r}: the parquet format needs pyarrow, which is not "
            f"installed ({exc}); install it with  pip install glue_runtime[parquet]  or choose "
            f"format jsonl or csv"
        ) from None
    return pa, pq


class _ParquetLayout:
    """A stream's columns: names, value converters and the Arrow schema, from its JSON schema."""

    def __init__(self, stream: str, schema: dict[str, Any]) -> None:
        self.pa, self.pq = _import_pyarrow(stream)
        pa = self.pa
        props = schema.get("properties") or {}
        arrow = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}
        self.names = list(props)
        kinds = [_column_kind(props[name]) for name in self.names]
        self.convert = [_CONVERTERS[kind] for kind in kinds]
        self.schema = pa.schema(
            [
                pa.field(name, arrow.get(kind, pa.string()), nullable=True)
                for name, kind in zip(self.names, kinds, strict=True)
            ]
        )


class _ParquetFile:
    """One stream's parquet file, written PARQUET_BATCH_ROWS records at a time."""

    def __init__(self, stream: str, layout: _ParquetLayout, path: Path) -> None:
        self.pa, self.stream, self.path = layout.pa, stream, path
        self.names, self.convert, self.schema = layout.names, layout.convert, layout.schema
        self.columns: list[list[Any]] = [[] for _ in self.names]
        self.rows = 0
        self.writer = layout.pq.ParquetWriter(str(path), self.schema)

    def write(self, record: dict[str, Any]) -> None:
        get = record.get
        for column, name, convert in zip(self.columns, self.names, self.convert, strict=True):
            column.append(convert(get(name)))
        self.rows += 1
        if self.rows >= PARQUET_BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        pa = self.pa
        arrays = []
        for column, field in zip(self.columns, self.schema, strict=True):
            try:
                arrays.append(pa.array(column, type=field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
                raise SystemExit(
                    f"landing: stream {self.stream!r}: a value of field {field.name!r} does not "
                    f"fit its parquet type {field.type} (from the stream's JSON schema): {exc}"
                ) from None
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.columns = [[] for _ in self.names]
        self.rows = 0

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.writer.close()


def land(lines: IO[bytes], output_dir: Path, fmt: str = "jsonl") -> dict[str, int]:
    """Land a tap's output read from ``lines``; returns the records landed per stream."""
    if fmt not in FORMATS:
        raise SystemExit(f"landing: unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    output_dir.mkdir(parents=True, exist_ok=True)
    landing = _Landing(output_dir, fmt)
    try:
        landing.read(lines)
    finally:
        landing.close()
    (output_dir / "_schemas.json").write_bytes(dumps_exact(landing.schemas, orjson.OPT_INDENT_2))
    (output_dir / "_state.json").write_bytes(dumps_exact(landing.state))
    return landing.counts


class _Landing:
    """The files of one landing: one per stream (parquet: one per stream and Arrow schema)."""

    def __init__(self, output_dir: Path, fmt: str) -> None:
        self.output_dir, self.fmt = output_dir, fmt
        self.schemas: dict[str, Any] = {}  # what _schemas.json holds
        self.files: dict[str, IO[Any]] = {}  # jsonl and csv
        self.writers: dict[str, Any] = {}  # csv: the DictWriter over files[stream]
        self.parquet: dict[str, _ParquetFile] = {}
        self.counts: dict[str, int] = {}
        self.state: Any = None  # the tap's last STATE value
        writes = {"parquet": self._write_parquet, "csv": self._write_csv}
        self.write: Callable[[str, dict[str, Any]], None] = writes.get(fmt, self._write_jsonl)

    def read(self, lines: IO[bytes]) -> None:
        for line in lines:
            if line.isspace():
                continue
            msg = loads_line(line)  # numbers a float cannot hold stay exact
            mtype = msg.get("type")
            if mtype == "RECORD":
                stream = msg["stream"]
                if stream not in self.counts:
                    raise SystemExit(f"landing: RECORD for stream {stream!r} before its SCHEMA")
                self.write(stream, msg["record"])
            elif mtype == "SCHEMA":
                self._schema(msg)
            elif mtype == "BATCH":
                self._batch(msg)
            elif mtype == "STATE":
                self.state = msg["value"]

    def _write_parquet(self, stream: str, record: dict[str, Any]) -> None:
        self.parquet[stream].write(record)
        self.counts[stream] += 1

    def _write_csv(self, stream: str, record: dict[str, Any]) -> None:
        self.writers[stream].writerow({k: _csv_value(v) for k, v in record.items()})
        self.counts[stream] += 1

    def _write_jsonl(self, stream: str, record: dict[str, Any]) -> None:
        self.files[stream].write(dumps_exact(record, orjson.OPT_APPEND_NEWLINE))
        self.counts[stream] += 1

    def _schema(self, msg: dict[str, Any]) -> None:
        stream = msg["stream"]
        entry = self.schemas.get(stream) or {"files": []}
        entry["schema"] = msg["schema"]
        entry["key_properties"] = msg.get("key_properties") or []
        self.schemas[stream] = {k: entry[k] for k in ("schema", "key_properties", "files")}
        if self.fmt == "parquet":
            self._open_parquet(stream, msg["schema"], entry["files"])
        elif stream not in self.files:
            self._open_file(stream, msg["schema"], entry["files"])

    def _open_parquet(self, stream: str, schema: dict[str, Any], names: list[str]) -> None:
        """A stream's first parquet file, or its next one when its columns changed."""
        current = self.parquet.get(stream)
        layout = _ParquetLayout(stream, schema)
        if current is not None and layout.schema.equals(current.schema):
            return
        if current is not None:  # new columns: close the file, start the next
            del self.parquet[stream]
            current.close()
        n = len(names) + 1
        name = f"{stream}.parquet" if n == 1 else f"{stream}.{n}.parquet"
        self.parquet[stream] = _ParquetFile(stream, layout, self.output_dir / name)
        names.append(name)
        self.counts.setdefault(stream, 0)

    def _open_file(self, stream: str, schema: dict[str, Any], names: list[str]) -> None:
        path = self.output_dir / f"{stream}.{self.fmt}"
        fh: IO[Any]
        if self.fmt == "csv":
            fh = open(path, "w", newline="")  # noqa: SIM115 (closed by close())
            fields = list((schema.get("properties") or {}).keys())
            writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            self.writers[stream] = writer
        else:
            fh = open(path, "wb")  # noqa: SIM115 (closed by close())
        self.files[stream] = fh
        names.append(path.name)
        self.counts[stream] = 0

    def _batch(self, msg: dict[str, Any]) -> None:
        """The rows are in files: land each one (a BATCH message carries none)."""
        stream = msg["stream"]
        if stream not in self.counts:
            raise SystemExit(f"landing: BATCH for stream {stream!r} before its SCHEMA")
        for url in msg.get("manifest") or []:
            try:
                for record in read_rows(url, msg.get("encoding")):
                    self.write(stream, record)
            except (ValueError, OSError, EOFError, zlib.error) as exc:
                raise SystemExit(
                    f"landing: stream {stream!r}: cannot read a BATCH file: {exc}"
                ) from None

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        for pf in self.parquet.values():
            pf.close()


def main(argv: list[str]) -> int:
    if "--about" in argv:
        return 2
    config = orjson.loads(Path(argv[argv.index("--config") + 1]).read_bytes())
    land(sys.stdin.buffer, Path(config["output_dir"]), config.get("format", "jsonl"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
