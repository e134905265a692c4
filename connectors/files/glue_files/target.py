"""target-files: one JSON-lines or CSV file per stream, each replaced atomically.

The hot path is one orjson.dumps per record (JSON lines) into a list that a drain writes with
one call; record validation is compiled once per schema with fastjsonschema. Files become
visible (rename over the final name) just before the target emits STATE and at the end, so a
STATE line always covers data that is in its final file.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import time
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.sinks import Sink
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator

from glue_files.output import OutputFile
from glue_files.quickcheck import compile_check
from glue_files.singer_io import OrjsonReader, default

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NO_CONTEXT: dict = {}
# singer-sdk strips these from records when add_record_metadata is off.
_SDC_META = frozenset(
    (
        "_sdc_extracted_at",
        "_sdc_received_at",
        "_sdc_batched_at",
        "_sdc_deleted_at",
        "_sdc_sequence",
        "_sdc_table_version",
        "_sdc_sync_started_at",
    )
)


class FastValidator(BaseJSONSchemaValidator):
    """Record validation compiled once per schema: a generated quick check (quickcheck.py)
    that accepts the common, certainly valid record, then fastjsonschema for the rest. Formats
    are not checked (singer-sdk's default validator does not check them either) and defaults
    are not filled in (records are written as they came). The fast fastjsonschema variant
    builds no error details; a failing record is checked again with a detailed one, for the
    message."""

    def __init__(self, schema: dict[str, Any], stream: str) -> None:
        super().__init__(schema)
        self.stream = stream
        try:
            self._validate = fastjsonschema.compile(
                schema, use_formats=False, use_default=False, detailed_exceptions=False
            )
        except fastjsonschema.JsonSchemaDefinitionException as exc:
            raise InvalidJSONSchema(f"Schema Validation Error: {exc}") from exc
        self.quick = compile_check(schema)

    def validate(self, record: dict[str, Any]) -> None:
        quick = self.quick
        if quick is not None and type(record) is dict and quick(record):
            return
        self.validate_fully(record)

    def validate_fully(self, record: dict[str, Any]) -> None:
        """The full validator's verdict (and its message)."""
        try:
            self._validate(record)
        except fastjsonschema.JsonSchemaValueException:
            detailed = fastjsonschema.compile(self.schema, use_formats=False, use_default=False)
            try:
                detailed(record)
                message = "record does not match its schema"
            except fastjsonschema.JsonSchemaValueException as exc:
                message = exc.message
            raise InvalidRecord(
                f"Stream '{self.stream}': record does not match its schema: {message}", record
            ) from None


def _dumps_fallback(record: dict) -> bytes:
    """A JSON line for what orjson refuses as is: Decimals (from singer-sdk's parser or a
    stream map) via ``default``, integers over 64 bits (parsed by the stdlib) via json."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE, default=default)
    except TypeError:
        text = json.dumps(record, default=default, ensure_ascii=False, separators=(",", ":"))
        return text.encode() + b"\n"


def _csv_cell(value: Any) -> Any:
    """CSV text for a value: JSON for objects and arrays (not Python repr), true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, str | int | float):
        return value
    return orjson.dumps(value, default=default).decode()


def _always_valid(record: dict) -> bool:
    return True


def _never_sure(record: dict) -> bool:
    """The check of a sink without a quick one: every record goes to slow_check."""
    return False


class FilesSink(Sink):
    """Serialises one stream's records into its OutputFile.

    JSON lines are written to the temp file as they arrive (its 1 MB buffer batches the
    system calls); holding them for a drain would cost memory (each orjson result keeps a ~4 KB
    buffer: ~80 MB for a 20,000-record batch) and time. CSV rows are buffered as dicts and
    written every FLUSH_EVERY records and at each drain, under the file's current header. The
    temp file is invisible until the target publishes it before a STATE, so writing early
    changes nothing a reader can see."""

    MAX_SIZE_DEFAULT = 20_000  # records per singer-sdk batch (drain)
    FLUSH_EVERY = 512  # CSV records buffered; records the target's reader counts in one step

    def __init__(
        self,
        target: TargetFiles,
        stream_name: str,
        schema: dict,
        key_properties: list[str] | None,
    ) -> None:
        self._target = target
        super().__init__(target, stream_name, schema, key_properties)
        self.output: OutputFile = target.output_for(stream_name)
        self.csv = self.output.csv
        self.rows: list[dict] = []  # CSV: rows are built on flush, for the current header
        self._dumps = orjson.dumps
        self._option = orjson.OPT_APPEND_NEWLINE
        self.record_check = self._record_check()

    def _record_check(self) -> Callable[[dict], bool] | None:
        """The target reader's per-record check: True when the record certainly passes
        validation and has its key properties; None when every record needs slow_check."""
        keys = list(self._key_properties or ())
        validator = self._validator
        if validator is None:
            return compile_check(None, keys) or _always_valid
        if isinstance(validator, FastValidator) and validator.quick is not None:
            return compile_check(self.schema, keys)
        return None

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        if not self.validate_schema:
            return None
        try:
            return FastValidator(self.schema, self.stream_name)
        except InvalidJSONSchema:
            # fastjsonschema rejects some schemas jsonschema accepts; use the SDK's then.
            return JSONSchemaValidator(self.schema)

    def _parse_timestamps_in_record(self, record: dict, schema: dict, treatment: Any) -> None:
        """Keep date/time strings as the text they arrived as: parsing them to datetimes only
        to format them back would cost time and could change the value."""

    def _get_context(self, record: dict) -> dict:
        return {}

    def setup(self) -> None:
        super().setup()
        # A sink replaced by a schema change still holds records: write them first, so they
        # land before this sink's and under the header they were built for.
        for old in self._target._sinks_to_clear:
            if old.stream_name == self.stream_name:
                self._target.drain_one(old)
        if self.csv:
            self.output.set_columns(list(self.schema.get("properties") or {}))
        if not self.output.append:
            self.output.start()

    def slow_check(self, record: dict) -> None:
        """What singer-sdk checks per record: validation (logged, raised unless the target is
        told to go on) and the key properties."""
        validator = self._validator
        if validator is not None:
            try:
                validator.validate(record)
            except InvalidRecord:
                self.logger.exception("Record validation failed")
                if self.fail_on_record_validation_exception:
                    raise
        if self._key_properties:
            self._singer_validate_message(record)

    def accept(self, record: dict) -> None:
        """The target's fast path for one record: what singer-sdk does per record when no
        stream map or record metadata is involved (validate, check keys, count, process)."""
        self.slow_check(record)
        self.tally_record_read()
        self.process_record(record, _NO_CONTEXT)
        self.record_counter_metric.increment()

    def fold(self, count: int) -> None:
        """Account for ``count`` records the target's reader stored itself (singer-sdk's
        per-record tally and counter metric, in one step)."""
        self.tally_record_read(count)
        self.record_counter_metric.increment(count)
        if self.csv:
            self.flush()

    def process_record(self, record: dict, context: dict) -> None:
        if self.csv:
            self.rows.append(record)
            if len(self.rows) >= self.FLUSH_EVERY:
                self.flush()
            return
        try:
            data = self._dumps(record, option=self._option)
        except TypeError:
            data = _dumps_fallback(record)
        self.output.write(data)

    def flush(self) -> None:
        """Write the buffered CSV rows to the temp file (the list object is kept: the
        target's reader holds its append method)."""
        rows = self.rows
        if rows:
            data = self._csv_rows(rows)
            rows.clear()
            self.output.write(data)

    def process_batch(self, context: dict) -> None:
        # The rows of a BATCH message's files arrive here whole (singer-sdk's
        # process_batch_files); records from RECORD messages were written as they came.
        for record in context.get("records") or ():
            self.process_record(record, context)
        self.flush()

    def _csv_rows(self, records: list[dict]) -> bytes:
        columns = self.output.columns
        cell = _csv_cell
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=self.output.delimiter, lineterminator="\n")
        writer.writerows([[cell(rec.get(c)) for c in columns] for rec in records])
        return buf.getvalue().encode()


class _Outputs:
    """The target's open output files; whatever is unpublished at exit is discarded."""

    def __init__(self) -> None:
        self.files: dict[str, OutputFile] = {}

    def discard_all(self) -> None:
        for f in self.files.values():
            f.discard()


class TargetFiles(Target):
    """Singer target writing one JSON-lines or CSV file per stream."""

    name = "target-files"
    package_name = "glue-connector-files"
    config_jsonschema = th.PropertiesList(
        th.Property(
            "output_dir",
            th.StringType,
            required=True,
            description="Folder for the output files (created if missing).",
        ),
        th.Property(
            "format",
            th.StringType,
            default="jsonl",
            allowed_values=["jsonl", "csv"],
            description="jsonl (one JSON object a line) or csv (header from the schema).",
        ),
        th.Property(
            "mode",
            th.StringType,
            default="overwrite",
            allowed_values=["overwrite", "append"],
            description="overwrite: each run replaces a stream's file; append: adds to it.",
        ),
        th.Property(
            "delimiter", th.StringType, default=",", description="CSV delimiter (csv format)."
        ),
    ).to_dict()
    default_sink_class = FilesSink
    message_reader_class = OrjsonReader

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_parallelism = 1  # drains are CPU-bound Python; threads only add overhead
        self._outputs = _Outputs()
        self._fast: dict[str, FilesSink | bool] = {}
        # A run that dies would leave its temp files behind: remove them when this target
        # is collected or the interpreter exits (published files are not touched).
        weakref.finalize(self, self._outputs.discard_all)
        self._plans: dict[str, FilesSink | None] = {}
        if isinstance(self.message_reader, OrjsonReader):
            self.message_reader.on_error = self._discard_unpublished
            self.message_reader.line_loop = self._read_lines

    def _discard_unpublished(self) -> None:
        """A failed run: its data never reached a STATE, so it must not reach the files."""
        self.logger.warning(
            "Run failed: discarding unpublished output (files keep their last published content)"
        )
        self._outputs.discard_all()

    def output_for(self, stream_name: str) -> OutputFile:
        """The stream's output file (one per stream for the whole run)."""
        out = self._outputs.files.get(stream_name)
        if out is None:
            fmt = self.config.get("format") or "jsonl"
            folder = Path(self.config["output_dir"]).expanduser()
            folder.mkdir(parents=True, exist_ok=True)
            name = _UNSAFE.sub("_", stream_name).strip(".") or "stream"
            path = folder / f"{name}.{fmt}"
            for other, taken in self._outputs.files.items():
                if taken.path == path:
                    raise ValueError(
                        f"Streams '{other}' and '{stream_name}' would both be written to "
                        f"{path} (file names keep only letters, digits, '.', '_' and '-'); "
                        "rename one with a stream map."
                    )
            out = OutputFile(
                path,
                append=self.config.get("mode") == "append",
                csv_format=fmt == "csv",
                delimiter=self.config.get("delimiter") or ",",
            )
            self._outputs.files[stream_name] = out
        return out

    # -- the per-record fast path -------------------------------------------------------------

    def _fast_sink(self, stream: str) -> FilesSink | None:
        """The stream's sink when its records need no stream-map work: one identity map
        without flattening, to a FilesSink without record metadata. Cached per SCHEMA."""
        maps = self.mapper.stream_maps.get(stream)
        sink = self._sinks_active.get(stream)
        ok = (
            maps is not None
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == stream
            and not (maps[0].flattening_options and maps[0].flattening_enabled)
            and isinstance(sink, FilesSink)
            and not sink.include_sdc_metadata_properties
        )
        self._fast[stream] = sink if ok else False
        return sink if ok else None

    def _process_record_message(self, message_dict: dict) -> None:
        """singer-sdk's record handling, minus the per-record map, copy and sink lookups when
        they cannot change anything (the message dict is freshly parsed and ours to keep)."""
        stream = message_dict.get("stream")
        sink = self._fast.get(stream)
        if sink is None:
            sink = self._fast_sink(stream) if stream in self._sinks_active else False
        record = message_dict.get("record")
        if not sink or type(record) is not dict or not _SDC_META.isdisjoint(record):
            super()._process_record_message(message_dict)
            return
        sink.accept(record)
        if sink.is_full:
            self.drain_one(sink)
        self._handle_max_record_age()

    def _process_schema_message(self, message_dict: dict) -> None:
        super()._process_schema_message(message_dict)
        self._fast.clear()  # sinks or maps may have changed
        self._plans.clear()

    # -- the reader loop ----------------------------------------------------------------------

    def _plan(self, stream: Any) -> FilesSink | None:
        """The sink whose records the reader loop handles itself, or None (singer-sdk's way)."""
        if stream in self._plans:
            return self._plans[stream]
        sink = None
        if type(stream) is str and stream in self._sinks_active:
            sink = self._fast.get(stream)
            if sink is None:
                sink = self._fast_sink(stream)
        self._plans[stream] = sink or None
        return sink or None

    def _fold(self, sink: FilesSink, count: int) -> tuple[int, float]:
        """Per-record bookkeeping for ``count`` records in one step (tally, counter metric,
        write, drain when full or too old); returns the next fold's record limit and time."""
        sink.fold(count)
        if sink.is_full:
            self.drain_one(sink)
        self._handle_max_record_age()
        return self._limits(sink)

    def _limits(self, sink: FilesSink) -> tuple[int, float]:
        """Fold after this many records (so a full batch drains exactly when singer-sdk's
        would) or once this time has passed (its max-record-age drain)."""
        room = sink.max_size - sink.current_size
        deadline = self._last_full_drain_at + self._MAX_RECORD_AGE_IN_MINUTES * 60
        return max(1, min(sink.FLUSH_EVERY, room)), deadline

    def _read_lines(self, file_input: Any, callbacks: dict[str, Callable]) -> Counter[str]:
        """singer-sdk's reader loop (parse, dispatch by type, count), with RECORD lines of the
        current stream handled inline when its sink needs no stream-map work: one orjson.loads,
        the stream's compiled check (the full validator only when it says no), one
        orjson.dumps written to the temp file; the per-record bookkeeping (tally, metric,
        batch-full and record-age drains) is folded every FLUSH_EVERY records and before any
        other message, so STATE handling and drains see the same counts as singer-sdk's."""
        if file_input is None:  # bytes from stdin: no decoding to str before orjson
            file_input = getattr(sys.stdin, "buffer", sys.stdin)
        loads, bad_json = orjson.loads, orjson.JSONDecodeError
        dumps, nl = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        no_meta = _SDC_META.isdisjoint
        now = time.time
        stats: dict[str, int] = defaultdict(int)
        records = 0  # RECORDs handled inline
        stream: Any = None  # the stream handled inline (None: none)
        sink: FilesSink | None = None
        check: Callable[[dict], bool] = _never_sure
        append: Callable[[dict], None] | None = None  # CSV: the sink's row buffer
        write: Callable[[bytes], Any] | None = None  # JSON lines: the temp file's write
        pending, limit, deadline = 0, 0, 0.0
        for line in file_input:
            try:
                msg = loads(line)
            except bad_json:
                msg = None
            if (
                stream is not None
                and type(msg) is dict
                and msg.get("type") == "RECORD"
                and msg.get("stream") == stream
            ):
                record = msg.get("record")
                if type(record) is dict and no_meta(record):
                    if not check(record):
                        sink.slow_check(record)  # type: ignore[union-attr]
                    if append is not None:
                        append(record)
                    else:
                        try:
                            data = dumps(record, option=nl)
                        except TypeError:
                            data = _dumps_fallback(record)
                        if write is None:  # (re)opened lazily: a publish closes the file
                            write = sink.output.writer()  # type: ignore[union-attr]
                        write(data)
                    pending += 1
                    if pending >= limit or now() > deadline:
                        records += pending
                        limit, deadline = self._fold(sink, pending)  # type: ignore[arg-type]
                        pending, write = 0, None
                    continue
            # Any other message: singer-sdk's handling, once the records before it are counted.
            records, pending = self._count_folded(sink, records, pending), 0
            msg = self._dispatch(line, msg, callbacks)
            kind = msg["type"]
            stats[kind] += 1
            if kind == "RECORD":
                stream = msg.get("stream")
            stream, sink, check, append, limit, deadline = self._inline_plan(stream)
            write = None
        records = self._count_folded(sink, records, pending)
        stats["RECORD"] += records
        return Counter(stats)

    def _count_folded(self, sink: FilesSink | None, records: int, pending: int) -> int:
        """``records`` plus the ``pending`` ones, once their bookkeeping is folded in."""
        if pending:
            self._fold(sink, pending)  # type: ignore[arg-type]
        return records + pending

    def _dispatch(self, line: str | bytes, msg: Any, callbacks: dict[str, Callable]) -> dict:
        """singer-sdk's handling of a message not handled inline (``msg``: the line parsed by
        orjson, or None when it did not parse: singer-sdk's parser then names the error)."""
        reader = self.message_reader
        reader._current_message = line
        if msg is None:
            text = line if isinstance(line, str) else line.decode("utf-8", "replace")
            msg = reader.deserialize_json(text)
        reader.assert_line_requires(msg, requires={"type"})
        if callback := callbacks.get(msg["type"]):
            callback(msg)
        else:
            reader._process_unknown_message(msg)
        return msg

    def _inline_plan(self, stream: Any) -> tuple[Any, FilesSink | None, Any, Any, int, float]:
        """What handling the RECORDs of ``stream`` inline needs: (stream, its sink, the sink's
        record check, its CSV row append or None, the fold's record limit and time); all None
        when there is no stream or its records need singer-sdk's handling."""
        sink = self._plan(stream) if stream is not None else None
        if sink is None:
            return None, None, _never_sure, None, 0, 0.0
        append = sink.rows.append if sink.csv else None
        check = sink.record_check or _never_sure  # None: every record needs slow_check
        return (stream, sink, check, append, *self._limits(sink))

    def publish_all(self) -> None:
        for out in self._outputs.files.values():
            if out.publish():
                self.logger.info("Wrote %s", out.path)

    def _write_state_message(self, state: dict) -> None:
        """Files first, then the STATE that says they are written."""
        self.publish_all()
        super()._write_state_message(state)

    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        self.publish_all()  # the input may have carried no STATE at all


if __name__ == "__main__":
    TargetFiles.cli()
