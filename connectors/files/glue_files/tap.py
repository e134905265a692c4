"""tap-files: CSV and JSON-lines files as Singer streams.

Each configured stream reads every file its folder or glob matches, in sorted path order. The
schema is given or inferred from a sample of rows. Incremental syncs use a replication key in the
rows, or else the files' modification times: records carry ``_sdc_modified_at`` (singer-sdk's
file-stream convention) and that is the bookmark, so files not modified since are skipped.
"""

from __future__ import annotations

import copy
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.streams.core import REPLICATION_INCREMENTAL

from glue_files.infer import converter_for, infer_csv_schema, infer_json_schema
from glue_files.singer_io import OrjsonWriter
from glue_files.source import (
    FilesError,
    InputFile,
    csv_header,
    csv_rows,
    display_path,
    find_files,
    jsonl_records,
    mtime_ns,
)

SDC_PATH = "_sdc_path"
SDC_MODIFIED_AT = "_sdc_modified_at"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def mtime_iso(ns: int) -> str:
    """A file's modification time as UTC ISO text with fixed microseconds (so the bookmark's
    text compares the way the times do)."""
    return (_EPOCH + timedelta(microseconds=ns // 1000)).isoformat(timespec="microseconds")


def _parse_dt(value: Any) -> datetime | None:
    """A bookmark or cell as an aware datetime (naive means UTC); None if it is not one."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class FilesStream(Stream):
    """One configured stream: all files its pattern matches feed it."""

    is_sorted = False  # rows come in file order, not key order: singer-sdk tracks the max

    def __init__(self, tap: TapFiles, spec: dict[str, Any]) -> None:
        self.spec = spec
        name = spec["name"]
        pattern = spec["path"]
        base = tap.config.get("base_dir")
        if base and not os.path.isabs(os.path.expanduser(pattern)):
            pattern = os.path.join(base, pattern)
        self.files: list[InputFile] = find_files(
            name, pattern, spec.get("format"), spec.get("delimiter")
        )
        self.rk_column: str | None = spec.get("replication_key") or None
        self.add_metadata = bool(tap.config.get("add_metadata_columns", True))
        schema = self._schema(tap, spec)
        super().__init__(tap, schema=schema, name=name)
        self.primary_keys = list(spec.get("key_properties") or [])
        self.replication_key = self.rk_column or SDC_MODIFIED_AT
        self._check_keys()

    # -- schema ------------------------------------------------------------------------------

    def _schema(self, tap: TapFiles, spec: dict[str, Any]) -> dict[str, Any]:
        given = spec.get("schema")
        if given:
            if not isinstance(given.get("properties"), dict):
                raise FilesError(
                    f"Stream '{spec['name']}': the given schema has no 'properties' object; "
                    "give a JSON Schema of an object, or leave 'schema' out to infer one."
                )
            schema = copy.deepcopy(given)
            schema.setdefault("type", "object")
        else:
            schema = self._infer(int(tap.config.get("sample_size") or 1000))
        props = schema["properties"]
        if self.add_metadata:
            props.setdefault(SDC_PATH, {"type": ["string", "null"]})
        if self.add_metadata or not self.rk_column:
            props.setdefault(SDC_MODIFIED_AT, {"type": ["string", "null"], "format": "date-time"})
        return schema

    def _infer(self, sample_size: int) -> dict[str, Any]:
        csv_files = [f for f in self.files if f.format == "csv"]
        json_files = [f for f in self.files if f.format == "jsonl"]
        props: dict[str, Any] = {}
        if csv_files:
            columns: dict[str, int] = {}
            for f in csv_files:
                for col in csv_header(f):
                    columns.setdefault(col, len(columns))
            header = list(columns)

            def projected() -> Iterator[list[str]]:
                for f in csv_files:
                    for file_header, _line, row in csv_rows(f):
                        out = [""] * len(header)
                        for col, cell in zip(file_header, row, strict=True):
                            out[columns[col]] = cell
                        yield out

            props.update(
                infer_csv_schema(header, itertools.islice(projected(), sample_size))["properties"]
            )
        if json_files:
            records = (rec for f in json_files for _line, rec in jsonl_records(f))
            inferred = infer_json_schema(itertools.islice(records, sample_size))["properties"]
            for key, prop in inferred.items():
                props.setdefault(key, prop)
        return {"type": "object", "properties": props}

    def _check_keys(self) -> None:
        props = self.schema["properties"]
        missing = [k for k in self.primary_keys if k not in props]
        if missing:
            raise FilesError(
                f"Stream '{self.name}': key_properties {missing} are not columns of its files "
                f"(columns: {', '.join(props)})."
            )
        if self.rk_column and self.rk_column not in props:
            raise FilesError(
                f"Stream '{self.name}': replication_key '{self.rk_column}' is not a column of "
                f"its files (columns: {', '.join(props)})."
            )

    # -- records -----------------------------------------------------------------------------

    def _rk_sort_key(self) -> Callable[[Any], Any]:
        """How replication key values compare: as times, numbers or text, per the schema."""
        prop = self.schema["properties"][self.replication_key]
        types = prop.get("type", [])
        types = {types} if isinstance(types, str) else set(types)
        if prop.get("format") in ("date-time", "date"):
            return _parse_dt
        if types & {"integer", "number"} and "string" not in types:
            return lambda v: v if isinstance(v, int | float) else float(v)
        return str

    def get_records(self, context: dict | None) -> Iterable[dict[str, Any]]:
        incremental = self.replication_method == REPLICATION_INCREMENTAL
        start = self.get_starting_replication_key_value(context) if incremental else None
        by_mtime = self.rk_column is None
        file_start = _parse_dt(start) if by_mtime and start is not None else None
        row_filter = None
        if not by_mtime and start is not None:
            key = self._rk_sort_key()
            floor = key(start)
            rk = self.rk_column

            def row_filter(rec: dict[str, Any]) -> bool:
                value = rec.get(rk)
                if value is None:
                    return False  # no key: sent on full syncs only
                k = key(value)
                return k is None or k >= floor

        for f in self.files:
            ns = mtime_ns(f.path)
            modified = mtime_iso(ns)
            if file_start is not None and _parse_dt(modified) <= file_start:
                self.logger.info(
                    "Stream '%s': skipping %s (not modified since %s)", self.name, f.path, start
                )
                continue
            self.logger.info("Stream '%s': reading %s", self.name, f.path)
            extra: dict[str, Any] = {}
            if self.add_metadata:
                extra[SDC_PATH] = display_path(f.path)
            if self.add_metadata or by_mtime:
                extra[SDC_MODIFIED_AT] = modified
            rows = self._csv(f) if f.format == "csv" else self._jsonl(f)
            for rec in rows:
                if row_filter is not None and not row_filter(rec):
                    continue
                rec.update(extra)
                yield rec

    def _csv(self, f: InputFile) -> Iterator[dict[str, Any]]:
        props = self.schema["properties"]
        plan: list[tuple[int, str, Callable[[str], Any] | None]] | None = None
        for header, line, row in csv_rows(f):
            if plan is None:
                # Per file, once: which cells to keep and how to convert them.
                plan = [
                    (i, col, converter_for(props[col]))
                    for i, col in enumerate(header)
                    if col in props
                ]
            rec: dict[str, Any] = {}
            for i, col, conv in plan:
                text = row[i]
                if not text:
                    rec[col] = None
                elif conv is None:
                    rec[col] = text
                else:
                    try:
                        rec[col] = conv(text)
                    except ValueError as exc:
                        raise FilesError(
                            f"{f.path}, line {line}, column '{col}': cannot read {text[:60]!r} "
                            f"as {props[col].get('type')} ({exc}). The schema was inferred from "
                            "a sample: give the stream a 'schema' or raise 'sample_size'."
                        ) from None
            yield rec

    def _jsonl(self, f: InputFile) -> Iterator[dict[str, Any]]:
        for _line, rec in jsonl_records(f):
            yield rec


_STREAM = th.ObjectType(
    th.Property("name", th.StringType, required=True, description="Stream name."),
    th.Property(
        "path",
        th.StringType,
        required=True,
        description=(
            "A folder (its .csv/.tsv/.jsonl/.ndjson/.json files, also gzipped) "
            "or a glob (** recurses)."
        ),
    ),
    th.Property(
        "format",
        th.StringType,
        allowed_values=["csv", "jsonl"],
        description="csv or jsonl; default: from each file's extension.",
    ),
    th.Property("key_properties", th.ArrayType(th.StringType), description="Primary key columns."),
    th.Property(
        "replication_key",
        th.StringType,
        description="Column for incremental syncs; default: the files' modification time.",
    ),
    th.Property(
        "schema",
        th.ObjectType(additional_properties=True),
        description="JSON Schema of the records; default: inferred from a sample.",
    ),
    th.Property(
        "delimiter",
        th.StringType,
        description="CSV delimiter; default ',' (tab for .tsv files).",
    ),
)


class TapFiles(Tap):
    """Singer tap reading CSV and JSON-lines files."""

    name = "tap-files"
    package_name = "glue-connector-files"
    message_writer_class = OrjsonWriter
    config_jsonschema = th.PropertiesList(
        th.Property(
            "streams",
            th.ArrayType(_STREAM),
            required=True,
            description="One entry per stream: name, path and how to read its files.",
        ),
        th.Property(
            "base_dir",
            th.StringType,
            description="Folder that relative stream paths are resolved against (default: "
            "the working directory).",
        ),
        th.Property(
            "sample_size",
            th.IntegerType,
            default=1000,
            description="Rows read to infer a schema (across the stream's files, in order).",
        ),
        th.Property(
            "add_metadata_columns",
            th.BooleanType,
            default=True,
            description="Add _sdc_path and _sdc_modified_at to every record (the latter is "
            "always added when the files' modification time is the bookmark).",
        ),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        specs = self.config.get("streams") or []
        seen: set[str] = set()
        for spec in specs:
            if spec["name"] in seen:
                raise FilesError(f"Stream '{spec['name']}' is configured twice; rename one.")
            seen.add(spec["name"])
        return [FilesStream(self, spec) for spec in specs]


if __name__ == "__main__":
    TapFiles.cli()
