"""tap-postgres: one stream per table (or view) of a schema, full table or incremental.

Rows are read through a server-side cursor, so a large table streams instead of landing in
memory. Incremental streams are read ordered by their replication key (a sorted stream, so an
interrupted run resumes from its last bookmark).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from glue_postgres.connection import CONNECTION_SETTINGS, ConnectionSettings
from glue_postgres.types import json_schema, quote_ident

_FETCH = 2000


def _from_bytes(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def _to_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


def _converter(pg: str) -> Any:
    """How a value of a column type becomes what its JSON Schema says (None: as psycopg
    returns it; singer-sdk turns Decimal, date and datetime values into JSON itself)."""
    base = pg.lower().split("(")[0].strip()
    if base == "bytea":
        return _from_bytes
    schema = json_schema(pg)
    if schema.get("type") == ["string", "null"] and "format" not in schema and base not in _TEXT:
        return _to_text  # uuid, inet, interval, arrays of enums...: their text form
    return None


_TEXT = frozenset({"text", "character varying", "character", "name", "citext"})


class PostgresTableStream(Stream):
    """One table: the column list, types and conversions are fixed at discovery."""

    def __init__(
        self,
        tap: TapPostgres,
        table: str,
        columns: list[tuple[str, str, bool]],
        primary_keys: list[str],
        replication_key: str | None,
    ) -> None:
        schema = {
            "type": "object",
            "properties": {
                name: json_schema(pg, nullable=not notnull) for name, pg, notnull in columns
            },
        }
        super().__init__(tap, schema=schema, name=table)
        self.table = table
        self.primary_keys = primary_keys
        self.replication_key = replication_key
        self._types = {name: pg for name, pg, _ in columns}

    @property
    def is_sorted(self) -> bool:
        """Incremental reads are ordered by the replication key, so progress is resumable."""
        return self.replication_key is not None

    def get_records(self, context: dict | None) -> Iterable[dict[str, Any]]:
        tap: TapPostgres = self._tap  # type: ignore[assignment]
        names = [n for n in self.schema["properties"] if n in self._types]
        convert = [(i, fn) for i, n in enumerate(names) if (fn := _converter(self._types[n]))]
        qualified = f"{quote_ident(tap.db_schema)}.{quote_ident(self.table)}"
        sql = f"SELECT {', '.join(quote_ident(n) for n in names)} FROM {qualified}"
        params: list[Any] = []
        rk = self.replication_key
        if rk:
            start = self.get_starting_replication_key_value(context)
            if start is not None:
                op = ">=" if self.config.get("inclusive_start") else ">"
                sql += f" WHERE {quote_ident(rk)} {op} %s::{self._types[rk]}"
                params.append(start)
            sql += f" ORDER BY {quote_ident(rk)} NULLS FIRST"
        # A named (server-side) cursor streams the rows; it lives in the connection's
        # transaction, which ends when the connection closes.
        with (
            tap.settings.connect() as conn,
            conn.cursor(name=f"glue_tap_{id(self)}") as cur,
        ):
            cur.itersize = _FETCH
            cur.execute(sql, params)
            for row in cur:
                if convert:
                    row = list(row)
                    for i, fn in convert:
                        row[i] = fn(row[i])
                yield dict(zip(names, row, strict=True))


def _table_settings(config: dict) -> dict[str, str | None] | None:
    """`tables` as {name: replication_key or None}; None means every table."""
    tables = config.get("tables")
    if not tables:
        return None
    settings: dict[str, str | None] = {}
    for item in tables:
        if isinstance(item, str):
            settings[item] = None
        else:
            settings[item["name"]] = item.get("replication_key")
    return settings


_COLUMNS_SQL = """
SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname, a.attnum
"""

_KEYS_SQL = """
SELECT c.relname::text, a.attname::text
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos) ON true
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE n.nspname = %s AND i.indisprimary
ORDER BY c.relname, k.pos
"""


class TapPostgres(Tap):
    """Singer tap reading the tables and views of one PostgreSQL schema."""

    name = "tap-postgres"
    package_name = "glue-connector-postgres"
    config_jsonschema = th.PropertiesList(
        *CONNECTION_SETTINGS,
        th.Property(
            "schema",
            th.StringType,
            default="public",
            description="PostgreSQL schema whose tables and views become streams.",
        ),
        th.Property(
            "tables",
            th.ArrayType(
                th.CustomType(
                    {
                        "anyOf": [
                            {"type": "string"},
                            {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "replication_key": {"type": "string"},
                                },
                                "required": ["name"],
                            },
                        ]
                    }
                )
            ),
            description=(
                "Tables to read (default: all of the schema). Each item is a table name, or "
                '{"name": ..., "replication_key": ...} to read it incrementally.'
            ),
        ),
        th.Property(
            "inclusive_start",
            th.BooleanType,
            default=False,
            description=(
                "Incremental reads return rows with replication key >= the bookmark (re-reading "
                "the last row) instead of > it. Use for keys with ties, such as coarse timestamps."
            ),
        ),
    ).to_dict()

    @property
    def settings(self) -> ConnectionSettings:
        return ConnectionSettings(self.config)

    @property
    def db_schema(self) -> str:
        return self.config.get("schema") or "public"

    def discover_streams(self) -> list[Stream]:
        wanted = _table_settings(self.config)
        columns: dict[str, list[tuple[str, str, bool]]] = {}
        keys: dict[str, list[str]] = {}
        with self.settings.connect(autocommit=True) as conn:
            for table, col, pg, notnull in conn.execute(_COLUMNS_SQL, (self.db_schema,)):
                columns.setdefault(table, []).append((col, pg, notnull))
            for table, col in conn.execute(_KEYS_SQL, (self.db_schema,)):
                keys.setdefault(table, []).append(col)
        if wanted is not None:
            unknown = [t for t in wanted if t not in columns]
            if unknown:
                raise ConfigValidationError(
                    f"Tables {unknown} are not in schema '{self.db_schema}'. Its tables: "
                    f"{', '.join(sorted(columns)) or '(none)'}."
                )
        streams: list[Stream] = []
        for table in sorted(columns) if wanted is None else list(wanted):
            rk = (wanted or {}).get(table)
            names = [c[0] for c in columns[table]]
            if rk is not None and rk not in names:
                raise ConfigValidationError(
                    f"Table '{table}' has no column '{rk}' to use as replication_key. "
                    f"Its columns: {', '.join(names)}."
                )
            streams.append(
                PostgresTableStream(self, table, columns[table], keys.get(table, []), rk)
            )
        return streams
