"""target-sqlite: one table per stream, upserts by key properties, columns added as schemas grow.

Built on the stdlib sqlite3 module and singer-sdk's BatchSink (not its SQLAlchemy SQLSink): the
SQL here is a handful of statements, and executemany on prepared text is the fastest path SQLite
offers from Python.
"""

from __future__ import annotations

import decimal
import sqlite3
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord, MissingKeyPropertiesError
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.io_base import SingerReader
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator

from glue_sqlite.types import JSON_TYPES, quote_ident, sqlite_type
from glue_sqlite.validation import FastValidator

_SDC_COLUMNS = frozenset(
    {
        "_sdc_extracted_at",
        "_sdc_received_at",
        "_sdc_batched_at",
        "_sdc_deleted_at",
        "_sdc_sequence",
        "_sdc_table_version",
        "_sdc_sync_started_at",
    }
)

# A custom stream map or a foreign reader may hand us Decimals; store them as numbers.
sqlite3.register_adapter(decimal.Decimal, float)


class OrjsonReader(SingerReader):
    """Parse input lines with orjson (several times faster; floats stay floats)."""

    def deserialize_json(self, line: str) -> dict:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            # orjson refuses what the stdlib accepts (integers over 64 bits, NaN): defer to
            # singer-sdk's parser, which also raises its own error for a really bad line.
            return super().deserialize_json(line)


class SqliteSink(BatchSink):
    """Writes one stream to one table; all per-stream SQL is built once, in setup()."""

    def __init__(
        self,
        target: TargetSqlite,
        stream_name: str,
        schema: dict,
        key_properties: list[str] | None,
    ) -> None:
        self._target = target
        super().__init__(target, stream_name, schema, key_properties)
        self.table = (self.config.get("table_prefix") or "") + stream_name
        self.load_method = self.config.get("load_method") or "upsert"
        # Keys drive the primary key and ON CONFLICT, except in append-only mode.
        self.upsert_keys: list[str] = (
            [] if self.load_method == "append-only" else list(self.key_properties)
        )
        props = self.schema.get("properties") or {}
        self.columns: list[str] = list(props)
        self.column_types: dict[str, str] = {c: sqlite_type(props[c]) for c in self.columns}
        self._json_idx = [
            i for i, c in enumerate(self.columns) if self.column_types[c] in JSON_TYPES
        ]
        self._getter = itemgetter(*self.columns) if len(self.columns) > 1 else None
        self._insert_sql = ""
        self._max_rows = self.max_size

    @property
    def connection(self) -> sqlite3.Connection:
        return self._target.connection

    # -- validation: fast, and dates stay the ISO text they came as --------------------------

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        if not self.validate_schema:
            return None
        try:
            return FastValidator(self.schema, self.stream_name)
        except InvalidJSONSchema:
            # fastjsonschema rejects some schemas jsonschema accepts; use the SDK's then.
            return JSONSchemaValidator(self.schema)

    def _parse_timestamps_in_record(self, record: dict, schema: dict, treatment: Any) -> None:
        """Keep date/time strings as the ISO text they arrived as: SQLite stores text anyway,
        so parsing to datetime and formatting back would only cost time and change the value."""

    # -- table management ------------------------------------------------------------------

    def setup(self) -> None:
        """Create the table, or add the columns this schema has that the table lacks."""
        super().setup()
        if not self.columns:
            self.logger.warning(
                "Stream '%s' has a schema without properties: its records are not stored.",
                self.stream_name,
            )
            return
        missing = [k for k in self.key_properties if k not in self.column_types]
        if missing:
            raise InvalidJSONSchema(
                f"Stream '{self.stream_name}': key properties {missing} are not in its "
                "schema's properties; add them to the schema or fix key_properties."
            )
        conn = self.connection
        table = quote_ident(self.table)
        existing = self._target.table_columns(self.table)
        with conn:
            if existing is None:
                cols = [f"{quote_ident(c)} {self.column_types[c]}".rstrip() for c in self.columns]
                if self.upsert_keys:
                    keys = ", ".join(quote_ident(k) for k in self.upsert_keys)
                    cols.append(f"PRIMARY KEY ({keys})")
                conn.execute(f"CREATE TABLE {table} ({', '.join(cols)})")
                existing = list(self.columns)
                self.logger.info("Created table %s", table)
            else:
                known = {c.casefold() for c in existing}
                for col in self.columns:
                    if col.casefold() not in known:
                        sql = f"ALTER TABLE {table} ADD COLUMN {quote_ident(col)} "
                        conn.execute((sql + self.column_types[col]).rstrip())
                        existing.append(col)
                        self.logger.info("Added column %s to table %s", quote_ident(col), table)
                if self.upsert_keys:
                    self._ensure_unique_keys()
                if self.load_method == "overwrite" and self.table not in self._target.overwritten:
                    deleted = conn.execute(f"DELETE FROM {table}").rowcount
                    self.logger.info("overwrite: deleted %d rows from %s", deleted, table)
        if self.load_method == "overwrite":
            self._target.overwritten.add(self.table)
        self._insert_sql = self._build_insert(existing)

    def _ensure_unique_keys(self) -> None:
        """An existing table needs a primary key or unique index on exactly the key columns
        for ON CONFLICT to work; add a unique index if it has neither."""
        wanted = [k.casefold() for k in self.upsert_keys]
        conn = self.connection
        table = quote_ident(self.table)
        pk = sorted(
            (row[5], row[1].casefold()) for row in conn.execute(f"PRAGMA table_info({table})")
        )
        if [name for order, name in pk if order > 0] == wanted:
            return
        for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
            if index[2]:  # unique
                cols = conn.execute(f"PRAGMA index_info({quote_ident(index[1])})").fetchall()
                if [c[2].casefold() for c in sorted(cols)] == wanted:
                    return
        name = quote_ident(f"{self.table}__keys__{'__'.join(self.upsert_keys)}")
        keys = ", ".join(quote_ident(k) for k in self.upsert_keys)
        try:
            conn.execute(f"CREATE UNIQUE INDEX {name} ON {table} ({keys})")
        except sqlite3.IntegrityError as exc:
            raise InvalidJSONSchema(
                f"Table {table} (stream '{self.stream_name}') has rows with duplicate values of "
                f"the new key properties {self.upsert_keys}; deduplicate them or drop "
                "the table before loading with these keys."
            ) from exc
        self.logger.info("Added a unique index on %s to table %s", keys, table)

    def _build_insert(self, table_columns: list[str]) -> str:
        """INSERT for this schema's columns; with keys, an upsert that replaces the row's values,
        nulling columns the table has but this schema no longer sends."""
        table = quote_ident(self.table)
        cols = ", ".join(quote_ident(c) for c in self.columns)
        params = ", ".join("?" * len(self.columns))
        sql = f"INSERT INTO {table} ({cols}) VALUES ({params})"
        if not self.upsert_keys:
            return sql
        keys = {k.casefold() for k in self.upsert_keys}
        ours = {c.casefold() for c in self.columns}
        sets = [
            f"{quote_ident(c)} = excluded.{quote_ident(c)}"
            for c in self.columns
            if c.casefold() not in keys
        ]
        sets += [f"{quote_ident(c)} = NULL" for c in table_columns if c.casefold() not in ours]
        conflict = ", ".join(quote_ident(k) for k in self.upsert_keys)
        action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
        return f"{sql} ON CONFLICT ({conflict}) {action}"

    # -- per-record fast path ---------------------------------------------------------------

    def accept(self, record: dict) -> bool:
        """What singer-sdk's Target._process_record_message does for a record, for a stream
        without stream maps, flattening or metadata columns: no copy, no mapper, no date
        parsing; the same validation, key check, counters and batching. True when full."""
        if not _SDC_COLUMNS.isdisjoint(record):
            self._remove_sdc_metadata_from_record(record)
        context = self._pending_batch or self._get_context(record)
        if self._validator is not None:
            try:
                self._validator.validate(record)
            except InvalidRecord:
                self.logger.exception("Record validation failed")
                if self.fail_on_record_validation_exception:
                    raise
        for key in self._key_properties:
            if key not in record:
                self._singer_validate_message(record)  # raises MissingKeyPropertiesError
                raise MissingKeyPropertiesError(f"Record is missing key property {key!r}")
        self.tally_record_read()
        context["records"].append(record)
        self._record_counter.increment()
        return self._batch_records_read >= self._max_rows

    def start_batch(self, context: dict) -> None:
        context["records"] = []

    # -- writing ---------------------------------------------------------------------------

    def _rows(self, records: list[dict]) -> list[tuple]:
        """Records to parameter tuples in column order (missing properties bind NULL)."""
        cols = self.columns
        getter = self._getter
        rows: list[Any] = []
        append = rows.append
        if getter is None:
            col = cols[0]
            for rec in records:
                append((rec.get(col),))
        else:
            for rec in records:
                try:
                    append(getter(rec))
                except KeyError:
                    append(tuple(map(rec.get, cols)))
        if self._json_idx:
            dumps = orjson.dumps
            idx = self._json_idx
            for n, row in enumerate(rows):
                row = list(row)
                for i in idx:
                    value = row[i]
                    if value is not None:
                        row[i] = dumps(value).decode()
                rows[n] = row
        return rows

    def process_batch(self, context: dict) -> None:
        """Write the batch with one executemany in one transaction."""
        records = context.get("records")
        if not records or not self._insert_sql:
            return
        rows = self._rows(records)
        with self.connection:  # BEGIN ... COMMIT, or ROLLBACK on error
            self.connection.executemany(self._insert_sql, rows)

    def activate_version(self, new_version: int) -> None:
        """Delete rows of older table versions when rows carry `_sdc_table_version`
        (add_record_metadata); otherwise there is nothing to tell versions apart: ignore."""
        if "_sdc_table_version" not in self.column_types:
            self.logger.info(
                "ACTIVATE_VERSION %s for '%s' ignored: enable add_record_metadata to have "
                "rows of older versions deleted.",
                new_version,
                self.stream_name,
            )
            return
        with self.connection:
            cur = self.connection.execute(
                f"DELETE FROM {quote_ident(self.table)} WHERE _sdc_table_version IS NULL "
                "OR _sdc_table_version < ?",
                (new_version,),
            )
        self.logger.info(
            "ACTIVATE_VERSION %s for '%s': deleted %d older rows",
            new_version,
            self.stream_name,
            cur.rowcount,
        )


class TargetSqlite(Target):
    """Singer target writing each stream to a table of one SQLite database file."""

    name = "target-sqlite"
    package_name = "glue-connector-sqlite"
    capabilities = [*Target.capabilities, PluginCapabilities.ACTIVATE_VERSION]
    config_jsonschema = th.PropertiesList(
        th.Property(
            "database",
            th.StringType,
            required=True,
            description="Path of the SQLite database file; created (with its folder) if missing.",
        ),
        th.Property(
            "table_prefix",
            th.StringType,
            default="",
            description="Prepended to each stream name to make its table name.",
        ),
        th.Property(
            "load_method",
            th.StringType,
            default="upsert",
            allowed_values=["upsert", "append-only", "overwrite"],
            description=(
                "`upsert` (default): a record replaces the row with the same key properties "
                "(plain append for streams without keys). `append-only`: every record is a new "
                "row; new tables get no primary key. `overwrite`: empty each table once per run "
                "when its stream starts, then upsert."
            ),
        ),
    ).to_dict()
    default_sink_class = SqliteSink
    message_reader_class = OrjsonReader

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One connection shared by all sinks: SQLite has one writer at a time anyway.
        self.max_parallelism = 1
        self._connection: sqlite3.Connection | None = None
        self._fast_sinks: dict[str, SqliteSink] = {}
        self.overwritten: set[str] = set()  # tables emptied by load_method=overwrite this run

    @property
    def connection(self) -> sqlite3.Connection:
        """The database connection, opened on first use (WAL, fsync on every commit)."""
        if self._connection is None:
            path = Path(self.config["database"]).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            # Default isolation: DML opens a transaction that `with conn` commits; DDL and
            # PRAGMAs run on their own. Sinks drain one at a time (max_parallelism = 1).
            conn = sqlite3.connect(path, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._connection = conn
        return self._connection

    def table_columns(self, table: str) -> list[str] | None:
        """Column names of a table, or None if it does not exist."""
        rows = self.connection.execute(f"PRAGMA table_info({quote_ident(table)})").fetchall()
        return [r[1] for r in rows] if rows else None

    def _process_schema_message(self, message_dict: dict) -> None:
        """Drain a replaced sink right away, so its rows land before any of the new sink's
        (an upsert must see older records first)."""
        super()._process_schema_message(message_dict)
        for sink in self._sinks_to_clear:
            self.drain_one(sink)
        stream = message_dict["stream"]
        self._fast_sinks.pop(stream, None)
        maps = self.mapper.stream_maps.get(stream) or []
        if (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and maps[0].stream_alias == stream
        ):
            sink = self._sinks_active.get(stream)
            if isinstance(sink, SqliteSink) and not sink.include_sdc_metadata_properties:
                self._fast_sinks[stream] = sink

    def _process_record_message(self, message_dict: dict) -> None:
        """Records of plain streams (the usual case) take SqliteSink.accept; anything with
        stream maps, flattening or metadata takes singer-sdk's general path."""
        sink = self._fast_sinks.get(message_dict.get("stream"))  # type: ignore[arg-type]
        record = message_dict.get("record")
        if sink is None or not isinstance(record, dict):
            super()._process_record_message(message_dict)
            return
        if sink.accept(record):
            self.logger.info("Target sink for '%s' is full. Draining...", sink.stream_name)
            self.drain_one(sink)
        self._handle_max_record_age()

    def _process_activate_version_message(self, message_dict: dict) -> None:
        """Apply ACTIVATE_VERSION after the stream's pending rows; unknown streams are ignored."""
        stream = message_dict.get("stream")
        if stream not in self.mapper.stream_maps:
            self.logger.warning("ACTIVATE_VERSION for unknown stream '%s' ignored", stream)
            return
        for stream_map in self.mapper.stream_maps[stream]:
            if not self.sink_exists(stream_map.stream_alias):
                continue
            sink = self.get_sink(stream_map.stream_alias)
            if not sink.process_activate_version_messages:
                continue
            self.drain_one(sink)
            sink.activate_version(message_dict["version"])

    def process_endofpipe(self) -> None:
        """Drain everything (emitting the final state), then close the database cleanly."""
        try:
            super().process_endofpipe()
        finally:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
