"""tap-sqlite: one stream per table, full table or incremental by a replication key."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

from glue_sqlite.types import json_schema, quote_ident, value_kind

_TRUE = frozenset({"1", "true", "t", "yes", "y"})


def _to_bool(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


def _from_json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _from_blob(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


_CONVERTERS = {"bool": _to_bool, "json": _from_json, "blob": _from_blob}


def connect_readonly(database: str) -> sqlite3.Connection:
    """Open the database read-only; a missing file is a configuration error, not a new db."""
    path = Path(database).expanduser()
    if not path.is_file():
        raise ConfigValidationError(
            f"SQLite database '{path}' does not exist; set `database` to an existing file."
        )
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


class SqliteTableStream(Stream):
    """One table. Columns and conversions are fixed at discovery, so a row costs a zip and a
    few conversions on boolean/JSON/blob columns only."""

    def __init__(
        self,
        tap: TapSqlite,
        table: str,
        columns: list[tuple[str, str, bool]],
        primary_keys: list[str],
        replication_key: str | None,
    ) -> None:
        schema = {
            "type": "object",
            "properties": {
                name: json_schema(declared, nullable=not notnull)
                for name, declared, notnull in columns
            },
        }
        super().__init__(tap, schema=schema, name=table)
        self.table = table
        self.primary_keys = primary_keys
        self.replication_key = replication_key
        self._declared = {name: declared for name, declared, _ in columns}

    @property
    def is_sorted(self) -> bool:
        """Incremental reads are ordered by the replication key, so progress is resumable."""
        return self.replication_key is not None

    def get_records(self, context: dict | None) -> Iterable[dict[str, Any]]:
        names = [n for n in self.schema["properties"] if n in self._declared]
        convert = [(n, _CONVERTERS[kind]) for n in names if (kind := value_kind(self._declared[n]))]
        sql = f"SELECT {', '.join(quote_ident(n) for n in names)} FROM {quote_ident(self.table)}"
        params: list[Any] = []
        rk = self.replication_key
        if rk:
            start = self.get_starting_replication_key_value(context)
            if start is not None:
                op = ">=" if self.config.get("inclusive_start") else ">"
                sql += f" WHERE {quote_ident(rk)} {op} ?"
                params.append(start)
            sql += f" ORDER BY {quote_ident(rk)}"
        conn = connect_readonly(self.config["database"])
        try:
            cursor = conn.execute(sql, params)
            while batch := cursor.fetchmany(1000):
                for row in batch:
                    record = dict(zip(names, row, strict=True))
                    for name, fn in convert:
                        value = record[name]
                        if value is not None:
                            record[name] = fn(value)
                    yield record
        finally:
            conn.close()


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


class TapSqlite(Tap):
    """Singer tap reading the tables of one SQLite database file."""

    name = "tap-sqlite"
    package_name = "glue-connector-sqlite"
    config_jsonschema = th.PropertiesList(
        th.Property(
            "database",
            th.StringType,
            required=True,
            description="Path of the SQLite database file to read (opened read-only).",
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
                "Tables to read (default: all). Each item is a table name, or "
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

    def discover_streams(self) -> list[Stream]:
        wanted = _table_settings(self.config)
        conn = connect_readonly(self.config["database"])
        try:
            found = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
                )
            ]
            if wanted is not None:
                unknown = [t for t in wanted if t not in found]
                if unknown:
                    raise ConfigValidationError(
                        f"Tables {unknown} are not in database '{self.config['database']}'. "
                        f"Its tables and views: {', '.join(found) or '(none)'}."
                    )
            streams: list[Stream] = []
            for table in found if wanted is None else list(wanted):
                try:
                    info = conn.execute(f"PRAGMA table_info({quote_ident(table)})").fetchall()
                except sqlite3.OperationalError as exc:  # a view over a dropped table, say
                    if wanted is not None:
                        raise ConfigValidationError(
                            f"'{table}' in database '{self.config['database']}' cannot be "
                            f"read: {exc}."
                        ) from None
                    self.logger.warning("Skipping '%s': it cannot be read (%s).", table, exc)
                    continue
                columns = [(r[1], r[2] or "", bool(r[3])) for r in info]
                keys = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0]
                rk = (wanted or {}).get(table)
                if rk is not None and rk not in {c[0] for c in columns}:
                    raise ConfigValidationError(
                        f"Table '{table}' has no column '{rk}' to use as replication_key. "
                        f"Its columns: {', '.join(c[0] for c in columns)}."
                    )
                streams.append(SqliteTableStream(self, table, columns, keys, rk))
            return streams
        finally:
            conn.close()
