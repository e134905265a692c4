"""`glue store`: the workspace store's schema version, its upgrade, and moving it elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from glue_runtime.cli import _echo_json, _note, main
from glue_runtime.errors import StoreError

if TYPE_CHECKING:
    import sqlalchemy as sa

# The workspace modules (SQLAlchemy, Alembic) are imported inside the commands: every `glue`
# command loads this module, and a plain `glue run` must not pay for them.


@main.group(name="store")
def store_group() -> None:
    """The workspace's store: tenants, links, credentials, state (SQLite or PostgreSQL)."""


@store_group.command("info")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def store_info(as_json: bool) -> None:
    """Where the store is (no password), its schema revision and what it holds."""
    from glue_runtime.workspace import schema
    from glue_runtime.workspace.open import open_workspace

    with open_workspace(check=False) as opened:
        store = opened.store
        with store.engine.connect() as conn:
            revision = schema.current(conn)
            counts = _counts(conn) if revision is not None else {}
    status = _status(revision)
    info = {"url": store.where(), "schema": revision, "code_schema": schema.head(), **counts}
    if as_json:
        _echo_json({**info, "status": status})
        return
    click.echo(f"store:     {info['url']}")
    click.echo(f"schema:    {revision or '(none)'} ({status})")
    for name, count in counts.items():
        click.echo(f"{name + ':':<10} {count}")


def _counts(conn: sa.Connection) -> dict[str, int]:
    import sqlalchemy as sa

    from glue_runtime.workspace.store import links, states, tenants

    return {
        t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
        for t in (tenants, links, states)
    }


def _status(revision: str | None) -> str:
    from glue_runtime.workspace import schema

    if revision is None:
        return "no schema: run `glue store upgrade`"
    if revision == schema.head():
        return "current"
    if schema.known(revision):
        return f"older than this glue_runtime's {schema.head()}: run `glue store upgrade`"
    return "newer than this glue_runtime: upgrade glue-runtime"


@store_group.command("upgrade")
def store_upgrade() -> None:
    """Bring the store's schema up to this glue_runtime's (back it up first)."""
    from glue_runtime.workspace.open import open_workspace

    with open_workspace(check=False) as opened:
        before, after = opened.store.upgrade()
        where = opened.store.where()
    if before == after:
        _note(f"the store at {where} is already at schema revision {after}")
    else:
        _note(f"upgraded the store at {where} from schema revision {before or '(none)'} to {after}")


@store_group.command("migrate")
@click.option(
    "--to",
    "to_url",
    required=True,
    metavar="URL",
    help="The empty database to move the store into (postgresql://USER:PASSWORD@HOST/DB).",
)
def store_migrate(to_url: str) -> None:
    """Copy every table of the workspace's store into an empty database (SQLite to PostgreSQL).

    Stop the workspace's jobs first: the old store is locked for writes while it is copied.
    Encrypted values are copied as they are and decrypt with the same key. The counts of rows
    are checked; the old store is left as it was.
    """
    from glue_runtime.workspace.migrate import copy_store
    from glue_runtime.workspace.open import open_workspace
    from glue_runtime.workspace.store import Store

    with open_workspace() as opened:
        source = opened.store
        target = Store(to_url)
        try:
            if target.where() == source.where():
                raise StoreError(f"--to names the workspace's own store ({source.where()})")
            rows = copy_store(source, target)
        finally:
            target.close()
    summary = ", ".join(f"{count} {name}" for name, count in rows.items() if count)
    _note(f"copied the store at {source.where()} to {target.where()}: {summary or 'no rows'}")
    _note(
        "the workspace still uses its old store: set GLUE_STORE_URL to the new URL (or "
        "store.url in glue.yml, keeping the password out of git) to use the new one"
    )
