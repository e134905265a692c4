#!/usr/bin/env python3
"""The floor a database target is measured against: Singer lines in, rows loaded, nothing else.

    db_floor.py sqlite --database FILE            < input.singer
    db_floor.py postgres --dsn DSN --schema NAME  < input.singer

Reads Singer lines from stdin and parses each with orjson; the SCHEMA gives the table (the
columns and column types the bundled target would create, from its own ``types`` module, with
the key properties as primary key); each RECORD becomes a row in column order (objects and
arrays as JSON text, as the targets store them). Rows go to the database's own bulk load,
streamed as they are parsed, in one transaction:

- SQLite: one ``executemany`` of a plain INSERT (journal_mode WAL, synchronous FULL, as
  target-sqlite opens its database);
- PostgreSQL: one ``COPY ... FROM STDIN`` through psycopg's ``copy.write_row``.

No validation, no batching, no state: what any target has to do at least. One stream only (the
benchmark's). Prints the number of rows loaded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

import orjson


def _read(stdin: Any) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The stream's SCHEMA message, and its records as they are parsed."""
    loads = orjson.loads
    lines = iter(stdin)
    for line in lines:
        msg = loads(line)
        if msg.get("type") == "SCHEMA":
            schema = msg
            break
    else:
        raise SystemExit("no SCHEMA message in the input")

    def records() -> Iterator[dict[str, Any]]:
        for line in lines:
            msg = loads(line)
            if msg["type"] == "RECORD":
                yield msg["record"]

    return schema, records()


def _rows(
    columns: list[str], json_cols: set[str], records: Iterator[dict[str, Any]]
) -> Iterator[tuple[Any, ...]]:
    dumps = orjson.dumps
    idx = [i for i, c in enumerate(columns) if c in json_cols]
    for rec in records:
        row = [rec.get(c) for c in columns]
        for i in idx:
            if row[i] is not None:
                row[i] = dumps(row[i]).decode()
        yield tuple(row)


def load_sqlite(database: str, stdin: Any) -> int:
    import sqlite3

    from glue_sqlite.types import JSON_TYPES, quote_ident, sqlite_type

    schema, records = _read(stdin)
    props = schema["schema"]["properties"]
    columns = list(props)
    types = {c: sqlite_type(props[c]) for c in columns}
    keys = schema.get("key_properties") or []
    cols = [f"{quote_ident(c)} {types[c]}".rstrip() for c in columns]
    if keys:
        cols.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in keys)})")
    table = quote_ident(schema["stream"])
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"CREATE TABLE {table} ({', '.join(cols)})")
    sql = (
        f"INSERT INTO {table} ({', '.join(quote_ident(c) for c in columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})"
    )
    json_cols = {c for c in columns if types[c] in JSON_TYPES}
    with conn:  # one transaction
        cur = conn.executemany(sql, _rows(columns, json_cols, records))
    n = cur.rowcount
    conn.close()
    return n


def load_postgres(dsn: str, db_schema: str, stdin: Any) -> int:
    import psycopg
    from glue_postgres.types import KIND_JSON, pg_type, quote_ident

    schema, records = _read(stdin)
    props = schema["schema"]["properties"]
    columns = list(props)
    typed = {c: pg_type(props[c]) for c in columns}
    keys = schema.get("key_properties") or []
    cols = [f"{quote_ident(c)} {typed[c][0]}" for c in columns]
    if keys:
        cols.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in keys)})")
    table = f"{quote_ident(db_schema)}.{quote_ident(schema['stream'])}"
    json_cols = {c for c in columns if typed[c][1] == KIND_JSON}
    n = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:  # one transaction
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(db_schema)}")
        cur.execute(f"CREATE TABLE {table} ({', '.join(cols)})")
        names = ", ".join(quote_ident(c) for c in columns)
        with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            write = copy.write_row
            for row in _rows(columns, json_cols, records):
                write(row)
                n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="db", required=True)
    s = sub.add_parser("sqlite")
    s.add_argument("--database", required=True)
    g = sub.add_parser("postgres")
    g.add_argument("--dsn", required=True)
    g.add_argument("--schema", required=True)
    args = p.parse_args(argv)
    stdin = sys.stdin.buffer
    if args.db == "sqlite":
        n = load_sqlite(args.database, stdin)
    else:
        n = load_postgres(args.dsn, args.schema, stdin)
    print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
