"""target-postgres: one table per stream, loaded with COPY, upserted by key properties.

Each batch is one transaction: COPY into a session-private staging table, then one
INSERT ... SELECT ... ON CONFLICT (keys) DO UPDATE into the real table (streams without keys are
COPYed straight into their table). singer-sdk emits STATE only from drain_all, after every
sink's batch has committed, so an emitted STATE always covers committed rows.

Built on psycopg 3 and singer-sdk's BatchSink (not its SQLAlchemy SQLSink): the SQL is a handful
of statements, and COPY is the fastest way into PostgreSQL.
"""

from __future__ import annotations

import contextlib
import decimal
import hashlib
import itertools
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord, MissingKeyPropertiesError
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.io_base import SingerReader
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator

from glue_postgres.connection import CONNECTION_SETTINGS, ConnectionSettings
from glue_postgres.types import BIGINT, KIND_JSON, pg_type, quote_ident, widens
from glue_postgres.validation import FastValidator

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


UPSERT = "upsert"
APPEND_ONLY = "append-only"
OVERWRITE = "overwrite"


class PostgresLoadError(Exception):
    """A batch could not be written (the message names the stream, table and row)."""


def _json_default(value: Any) -> Any:
    """orjson fallback: Decimals (from singer-sdk's own JSON parser) become numbers."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _to_json(value: Any) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, default=_json_default).decode()


def _to_mixed(value: Any) -> Any:
    if value is None or type(value) is str:
        return value
    return orjson.dumps(value, default=_json_default).decode()


def _strip_nul(value: Any) -> Any:
    """The value with NUL characters removed from every string (PostgreSQL text and jsonb
    cannot hold them)."""
    if type(value) is str:
        return value.replace("\x00", "") if "\x00" in value else value
    if type(value) is dict:
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if type(value) is list:
        return [_strip_nul(v) for v in value]
    return value


class OrjsonReader(SingerReader):
    """Parse input lines with orjson (several times faster; numbers become int/float)."""

    def deserialize_json(self, line: str) -> dict:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            # orjson refuses what the stdlib accepts (integers over 64 bits, NaN): defer to
            # singer-sdk's parser, which also raises its own error for a really bad line.
            return super().deserialize_json(line)


class PostgresSink(BatchSink):
    """Writes one stream to one table; all per-stream SQL is built once, in setup()."""

    MAX_SIZE_DEFAULT = 20000

    def __init__(
        self,
        target: TargetPostgres,
        stream_name: str,
        schema: dict,
        key_properties: list[str] | None,
    ) -> None:
        self._target = target
        super().__init__(target, stream_name, schema, key_properties)
        self.db_schema: str = target.db_schema
        self.table = stream_name
        self.qualified = f"{quote_ident(self.db_schema)}.{quote_ident(self.table)}"
        props = self.schema.get("properties") or {}
        self.columns: list[str] = list(props)
        typed = {c: pg_type(props[c]) for c in self.columns}
        self.column_types: dict[str, str] = {c: typed[c][0] for c in self.columns}
        self._converters = [
            (i, _to_json if kind == KIND_JSON else _to_mixed)
            for i, c in enumerate(self.columns)
            if (kind := typed[c][1]) is not None
        ]
        self._getter = itemgetter(*self.columns) if len(self.columns) > 1 else None
        self._copy_sql = ""
        self._merge_sql = ""
        self._stage = ""
        self._max_rows = self.max_size
        self.load_method: str = target.load_method
        # Keys shape the table (primary key) and the load (upsert) unless appending only.
        self.upsert_keys: list[str] = (
            [] if self.load_method == APPEND_ONLY else list(self.key_properties)
        )

    @property
    def connection(self) -> psycopg.Connection:
        return self._target.connection

    # -- validation: fast, and dates stay the ISO text PostgreSQL parses itself ---------------

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        if not self.validate_schema:
            return None
        try:
            return FastValidator(self.schema, self.stream_name)
        except InvalidJSONSchema:
            # fastjsonschema rejects some schemas jsonschema accepts; use the SDK's then.
            return JSONSchemaValidator(self.schema)

    def _parse_timestamps_in_record(self, record: dict, schema: dict, treatment: Any) -> None:
        """Keep date/time strings as they came: COPY text is what PostgreSQL parses best,
        and a datetime round trip would only cost time."""

    # -- tables ------------------------------------------------------------------------------

    def setup(self) -> None:
        """Create the schema and table, or add the columns the table lacks; make sure the
        key columns have a unique index; create this sink's staging table."""
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
        with conn.transaction(), conn.cursor() as cur:
            self._target.ensure_schema(cur)
            existing = self._target.table_columns(cur, self.table)
            if existing is None:
                cols = [f"{quote_ident(c)} {self.column_types[c]}" for c in self.columns]
                if self.upsert_keys:
                    keys = ", ".join(quote_ident(k) for k in self.upsert_keys)
                    cols.append(f"PRIMARY KEY ({keys})")
                cur.execute(f"CREATE TABLE IF NOT EXISTS {self.qualified} ({', '.join(cols)})")
                self.logger.info("Created table %s", self.qualified)
            else:
                for col in self.columns:
                    if col not in existing:
                        cur.execute(
                            f"ALTER TABLE {self.qualified} ADD COLUMN IF NOT EXISTS "
                            f"{quote_ident(col)} {self.column_types[col]}"
                        )
                        self.logger.info("Added column %s to %s", quote_ident(col), self.qualified)
                    elif existing[col] != self.column_types[col]:
                        self._retype(cur, col, existing[col])
                if self.upsert_keys:
                    self._ensure_unique_keys(cur)
            cols = ", ".join(quote_ident(c) for c in self.columns)
            if self.upsert_keys:
                self._stage = quote_ident(f"glue_stage_{self._target.next_stage_id()}")
                # Same column types as the real table (whatever created it); emptied by every
                # commit, so each batch starts from an empty stage.
                cur.execute(
                    f"CREATE TEMP TABLE {self._stage} ON COMMIT DELETE ROWS AS "
                    f"SELECT {cols} FROM {self.qualified} WITH NO DATA"
                )
                self._copy_sql = f"COPY {self._stage} ({cols}) FROM STDIN"
                self._merge_sql = self._build_merge(cols)
            else:
                self._copy_sql = f"COPY {self.qualified} ({cols}) FROM STDIN"

    def _retype(self, cur: psycopg.Cursor, col: str, old: str) -> None:
        """A property whose type changed: widen its column when no value can be lost (an
        integer column to numeric, a scalar column to text); otherwise keep it, and say so."""
        new = self.column_types[col]
        reason = "retyping it could lose values"
        if widens(old, new):
            try:
                with cur.connection.transaction():  # a savepoint: a refusal keeps the column
                    cur.execute(
                        f"ALTER TABLE {self.qualified} ALTER COLUMN {quote_ident(col)} "
                        f"TYPE {new} USING {quote_ident(col)}::{new}"
                    )
            except psycopg.Error as exc:  # e.g. a view uses the column
                reason = f"PostgreSQL refused to retype it: {str(exc).strip()}"
            else:
                self.logger.info(
                    "Widened column %s of %s from %s to %s",
                    quote_ident(col),
                    self.qualified,
                    old,
                    new,
                )
                return
        self.logger.warning(
            "Stream '%s': property %s now maps to %s, but column %s of %s is %s; the "
            "column is kept (%s), so new values must fit %s",
            self.stream_name,
            col,
            new,
            quote_ident(col),
            self.qualified,
            old,
            reason,
            old,
        )

    def _ensure_unique_keys(self, cur: psycopg.Cursor) -> None:
        """ON CONFLICT needs a unique index on exactly the key columns: add one if missing."""
        cur.execute(
            """
            SELECT array_agg(a.attname::text)
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
            WHERE n.nspname = %s AND c.relname = %s AND i.indisunique
              AND i.indpred IS NULL AND i.indexprs IS NULL
            GROUP BY i.indexrelid
            """,
            (self.db_schema, self.table),
        )
        wanted = set(self.upsert_keys)
        if any(set(row[0]) == wanted for row in cur.fetchall()):
            return
        digest = hashlib.sha1("\x00".join(self.upsert_keys).encode()).hexdigest()[:10]
        name = quote_ident(f"{self.table[:40]}_glue_key_{digest}")
        keys = ", ".join(quote_ident(k) for k in self.upsert_keys)
        try:
            with cur.connection.transaction():
                cur.execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {self.qualified} ({keys})"
                )
        except psycopg.errors.UniqueViolation:
            raise InvalidJSONSchema(
                f"Table {self.qualified} (stream '{self.stream_name}') has rows with duplicate "
                f"values of the new key properties {self.upsert_keys}; deduplicate "
                "them or drop the table before loading with these keys."
            ) from None
        self.logger.info("Added a unique index on (%s) to %s", keys, self.qualified)

    def _build_merge(self, cols: str) -> str:
        """Upsert from the stage: a row replaces the values of the columns this schema has;
        columns only the table has keep their values."""
        keys = set(self.upsert_keys)
        sets = [
            f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in self.columns if c not in keys
        ]
        conflict = ", ".join(quote_ident(k) for k in self.upsert_keys)
        action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
        return (
            f"INSERT INTO {self.qualified} ({cols}) SELECT {cols} FROM {self._stage} "
            f"ON CONFLICT ({conflict}) {action}"
        )

    # -- per-record fast path ---------------------------------------------------------------

    def accept(self, record: dict) -> bool:
        """What singer-sdk's Target._process_record_message does for a record of a stream
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

    def _rows(self, records: list[dict]) -> list[Any]:
        """Records to value tuples in column order (missing properties load as NULL)."""
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
        if self._converters:
            converters = self._converters
            for n, row in enumerate(rows):
                row = list(row)
                for i, convert in converters:
                    row[i] = convert(row[i])
                rows[n] = row
        return rows

    def _dedupe(self, rows: list[Any]) -> list[Any]:
        """Keep the last row of each key (ON CONFLICT cannot update one row twice)."""
        idx = [self.columns.index(k) for k in self.upsert_keys]
        key = itemgetter(*idx)
        latest = {key(row): row for row in rows}
        if len(latest) < len(rows):
            self.tally_duplicate_merged(len(rows) - len(latest))
            return list(latest.values())
        return rows

    def _repair(self, records: list[dict]) -> list[dict] | None:
        """Records fixed for what PostgreSQL rejects but JSON allows (NUL characters,
        integral floats like 1.0 in bigint columns), or None if nothing needed fixing."""
        ints = [c for c in self.columns if self.column_types[c] == BIGINT]
        fixed: list[dict] = []
        changed = False
        for rec in records:
            new = _strip_nul(rec)
            for c in ints:
                v = new.get(c)
                if type(v) is float and v.is_integer():
                    new[c] = int(v)
            changed = changed or new != rec or any(type(rec.get(c)) is float for c in ints)
            fixed.append(new)
        return fixed if changed else None

    def _write(self, rows: list[Any]) -> None:
        with self.connection.transaction(), self.connection.cursor() as cur:
            if self.load_method == OVERWRITE and self.qualified not in self._target.overwritten:
                # The old rows go in the same transaction as the first new ones.
                cur.execute(f"TRUNCATE {self.qualified}")
            with cur.copy(self._copy_sql) as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
            if self._merge_sql:
                cur.execute(self._merge_sql)
        if self.load_method == OVERWRITE:
            self._target.overwritten.add(self.qualified)

    def process_batch(self, context: dict) -> None:
        """Write the batch in one transaction: COPY (to the stage) and, with keys, upsert."""
        records = context.get("records")
        if not records or not self._copy_sql:
            return
        rows = self._rows(records)
        if self.upsert_keys:
            rows = self._dedupe(rows)
        try:
            self._write(rows)
        except (psycopg.DataError, psycopg.errors.UntranslatableCharacter) as exc:
            repaired = self._repair(records)
            if repaired is None:
                raise self._load_error(exc, len(rows)) from None
            self.logger.warning(
                "Stream '%s': removed NUL characters / converted integral floats to load the "
                "batch (%s)",
                self.stream_name,
                type(exc).__name__,
            )
            rows = self._rows(repaired)
            if self.upsert_keys:
                rows = self._dedupe(rows)
            try:
                self._write(rows)
            except psycopg.Error as exc2:
                raise self._load_error(exc2, len(rows)) from None
        except psycopg.Error as exc:
            raise self._load_error(exc, len(rows)) from None

    def _load_error(self, exc: psycopg.Error, count: int) -> PostgresLoadError:
        detail = " ".join(str(exc).split())
        where = exc.diag.context if exc.diag and exc.diag.context else ""
        where = f" ({' '.join(where.split())})" if where else ""
        return PostgresLoadError(
            f"Stream '{self.stream_name}': loading a batch of {count} records into "
            f"{self.qualified} failed: {detail}{where}. COPY line N is the Nth record of the batch "
            "(after merging duplicate keys); "
            "nothing of this batch was written."
        )

    def activate_version(self, new_version: int) -> None:
        """Delete rows of older table versions when rows carry `_sdc_table_version`
        (add_record_metadata); without it versions cannot be told apart: ignore."""
        if "_sdc_table_version" not in self.column_types or not self._copy_sql:
            self.logger.info(
                "ACTIVATE_VERSION %s for '%s' ignored: enable add_record_metadata to have "
                "rows of older versions deleted.",
                new_version,
                self.stream_name,
            )
            return
        with self.connection.transaction(), self.connection.cursor() as cur:
            cur.execute(
                f"DELETE FROM {self.qualified} WHERE _sdc_table_version IS NULL "
                "OR _sdc_table_version < %s",
                (new_version,),
            )
            deleted = cur.rowcount
        self.logger.info(
            "ACTIVATE_VERSION %s for '%s': deleted %d older rows",
            new_version,
            self.stream_name,
            deleted,
        )

    def clean_up(self) -> None:
        """Drop this sink's staging table (it would go with the session anyway)."""
        super().clean_up()
        conn = self._target.open_connection
        if self._stage and conn is not None and not conn.closed:
            with contextlib.suppress(psycopg.Error):
                conn.execute(f"DROP TABLE IF EXISTS pg_temp.{self._stage}")
            self._stage = ""


class TargetPostgres(Target):
    """Singer target writing each stream to a table of one PostgreSQL schema."""

    name = "target-postgres"
    package_name = "glue-connector-postgres"
    capabilities = [*Target.capabilities, PluginCapabilities.ACTIVATE_VERSION]
    config_jsonschema = th.PropertiesList(
        *CONNECTION_SETTINGS,
        th.Property(
            "schema",
            th.StringType,
            default="public",
            description="PostgreSQL schema the tables are written to; created if missing.",
        ),
        th.Property(
            "load_method",
            th.StringType,
            default=UPSERT,
            allowed_values=[UPSERT, APPEND_ONLY, OVERWRITE],
            description=(
                "upsert: rows with the key properties of an existing row replace its values "
                "(streams without keys append). append-only: every record becomes a new row "
                "(tables get no primary key). overwrite: each table's old rows are deleted in "
                "the transaction of its first batch of this run, then rows load as upsert."
            ),
        ),
    ).to_dict()
    default_sink_class = PostgresSink
    message_reader_class = OrjsonReader

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One connection shared by all sinks, so sinks drain one at a time.
        self.max_parallelism = 1
        self.settings = ConnectionSettings(self.config)
        self.db_schema: str = self.config.get("schema") or "public"
        self.load_method: str = self.config.get("load_method") or UPSERT
        self.overwritten: set[str] = set()  # tables already emptied by overwrite this run
        self._connection: psycopg.Connection | None = None
        self._schema_ready = False
        self._stage_ids = itertools.count(1)
        self._fast_sinks: dict[str, PostgresSink] = {}

    @property
    def connection(self) -> psycopg.Connection:
        """The database connection, opened on first use (autocommit; each batch and each
        table change runs in its own explicit transaction)."""
        if self._connection is None or self._connection.closed:
            self._connection = self.settings.connect(autocommit=True)
            self.logger.info("Connected to PostgreSQL at %s", self.settings.where)
        return self._connection

    @property
    def open_connection(self) -> psycopg.Connection | None:
        return self._connection

    def next_stage_id(self) -> int:
        return next(self._stage_ids)

    def ensure_schema(self, cur: psycopg.Cursor) -> None:
        """Create the target schema if it does not exist (checked first, so a user without
        CREATE rights on the database can still write to an existing schema)."""
        if self._schema_ready:
            return
        cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.db_schema,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.db_schema)}")
            self.logger.info("Created schema %s", quote_ident(self.db_schema))
        self._schema_ready = True

    def table_columns(self, cur: psycopg.Cursor, table: str) -> dict[str, str] | None:
        """Column names -> types of a table in the target schema, or None if it does not exist."""
        cur.execute(
            """
            SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
              AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            (self.db_schema, table),
        )
        columns = {row[0]: row[1] for row in cur.fetchall()}
        if columns:
            return columns
        cur.execute(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
            (self.db_schema, table),
        )
        return {} if cur.fetchone() else None

    def _process_schema_message(self, message_dict: dict) -> None:
        """Drain a replaced sink right away, so its rows land before any of the new sink's
        (an upsert must see older records first); pick the fast record path if possible."""
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
            if isinstance(sink, PostgresSink) and not sink.include_sdc_metadata_properties:
                self._fast_sinks[stream] = sink

    def _process_record_message(self, message_dict: dict) -> None:
        """Records of plain streams (the usual case) take PostgresSink.accept; anything with
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
        """Drain everything (emitting the final state), then close the connection."""
        try:
            super().process_endofpipe()
        finally:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
