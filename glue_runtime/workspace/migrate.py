"""Moving a workspace's store to another database (`glue store migrate --to URL`).

Every table is copied row for row, encrypted values as they are: their associated data names
rows (tenant, link, field), not databases, so they decrypt in the new store with the same key.
The copy is one transaction on the target (its schema, the rows, the count check), so a failed
copy leaves the target empty; the source is held with its write lock meanwhile, so no write can
land in the old store unseen.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.errors import StoreError
from glue_runtime.workspace import schema
from glue_runtime.workspace.engine import lock_schema
from glue_runtime.workspace.store import Store

BATCH = 1000


def counts(conn: Connection, metadata: sa.MetaData) -> dict[str, int]:
    """Rows per table."""
    return {
        t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
        for t in metadata.sorted_tables
    }


def copy_store(source: Store, target: Store) -> dict[str, int]:
    """Copy ``source`` into the empty database of ``target``; the rows copied per table.

    StoreError, with nothing written, when the target already holds tables or the source is
    not at this code's schema."""
    source.check_schema()
    metadata = schema.all_tables()
    with source.write() as src, target.write() as dst:
        lock_schema(dst)
        _refuse_non_empty(dst, target.where())
        schema.upgrade(dst)
        for table in metadata.sorted_tables:  # parents before the rows that refer to them
            _copy_table(src, dst, table)
        _move_sequences(dst, metadata)
        want, got = counts(src, metadata), counts(dst, metadata)
        if want != got:  # raising rolls the whole copy back
            wrong = {
                name: (want[name], got.get(name)) for name in want if want[name] != got.get(name)
            }
            raise StoreError(
                f"the copy into {target.where()} does not match the source: rows "
                + ", ".join(f"{n} {w} -> {g}" for n, (w, g) in wrong.items()),
                hint="nothing was kept in the target; retry, and report it if it recurs",
            )
    return want


def _refuse_non_empty(conn: Connection, where: str) -> None:
    present = sorted(sa.inspect(conn).get_table_names())
    if present:
        raise StoreError(
            f"the target store at {where} is not empty (it has tables {', '.join(present[:8])}"
            f"{', ...' if len(present) > 8 else ''})",
            hint="migrate into an empty database (or schema); nothing was changed",
        )


def _copy_table(src: Connection, dst: Connection, table: sa.Table) -> None:
    rows = src.execute(sa.select(table)).mappings()
    while batch := rows.fetchmany(BATCH):
        dst.execute(sa.insert(table), [dict(r) for r in batch])


def _move_sequences(conn: Connection, metadata: sa.MetaData) -> None:
    """PostgreSQL: an id column's sequence past the ids copied in, so new rows do not clash."""
    if conn.dialect.name != "postgresql":
        return
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True or (
                column.autoincrement == "auto"
                and isinstance(column.type, sa.Integer)
                and len(table.primary_key.columns) == 1
            ):
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                        f"coalesce(max({column.name}), 0) + 1, false) FROM {table.name}"
                    )
                )
