"""The store's schema version: Alembic migrations run from code, and the check on opening.

The migrations live in ``glue_runtime/workspace/migrations`` (shipped with the package; users
need no alembic.ini). The revision a store is at is kept in its ``glue_schema_version`` table.
A store behind the code must be upgraded (`glue store upgrade`) before use; a store ahead of
the code (written by a newer glue_runtime) is refused, as its meaning is unknown here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from glue_runtime.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

VERSION_TABLE = "glue_schema_version"
MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0002"
"""The newest revision in migrations/versions (a test checks they agree): opening a store
compares against it without loading Alembic, which a job's start-up should not pay for."""


def _config(conn: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The revision this code's schema is at."""
    return HEAD


def current(conn: Connection) -> str | None:
    """The revision the store is at; None for a store with no schema yet."""
    version = sa.table(VERSION_TABLE, sa.column("version_num"))
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    revisions = list(conn.execute(sa.select(version.c.version_num)).scalars())
    return str(revisions[0]) if len(revisions) == 1 else None


def known(revision: str) -> bool:
    """Whether this code's migrations know ``revision`` (a newer glue_runtime's do not)."""
    from alembic.util.exc import CommandError

    try:
        return scripts().get_revision(revision) is not None
    except CommandError:
        return False


def upgrade(conn: Connection, to: str = "head") -> None:
    """Migrate the store on ``conn`` to ``to``, inside the caller's transaction."""
    from alembic import command

    command.upgrade(_config(conn), to)


def all_tables() -> sa.MetaData:
    """The store's metadata with the tables of every workspace module on it (they define their
    tables when imported)."""
    import glue_runtime.workspace as package
    from glue_runtime.workspace.tables import metadata

    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "migrations":
            importlib.import_module(f"{package.__name__}.{module.name}")
    for name in TABLE_MODULES:
        importlib.import_module(name)
    return metadata


TABLE_MODULES = (
    "glue_runtime.jobs.tables",
    "glue_runtime.service.tables",
    "glue_runtime.service.events_tables",
    "glue_runtime.service.triggers.tables",
    "glue_runtime.service.schedules.tables",
)
"""The layers above the workspace that keep tables in the store (jobs, the service)."""

TenantCleanup = Callable[[Connection, str], dict[str, int]]


def tenant_cleanups() -> list[TenantCleanup]:
    """What removing a tenant runs for the layers above, in its transaction: each table
    module's ``remove_tenant_rows(conn, tenant)`` (rows removed per table), where it has one,
    for rows without a ``tenant`` column of their own (a job's logs)."""
    all_tables()
    found = (getattr(importlib.import_module(n), "remove_tenant_rows", None) for n in TABLE_MODULES)
    return [f for f in found if f is not None]


def check(conn: Connection, where: str) -> str:
    """The store's revision; StoreError unless it is this code's head."""
    revision = current(conn)
    if revision is None:
        raise StoreError(
            f"the store at {where} has no glue_runtime schema",
            hint="run `glue init` for a new workspace (or `glue store upgrade` on an empty "
            "database you chose with GLUE_STORE_URL)",
        )
    want = head()
    if revision == want:
        return revision
    if not known(revision):
        raise StoreError(
            f"the store at {where} has schema revision {revision}, newer than this "
            f"glue_runtime knows (its newest is {want})",
            hint="upgrade glue-runtime to the version that wrote the store; nothing was changed",
        )
    raise StoreError(
        f"the store at {where} has schema revision {revision}, older than this "
        f"glue_runtime's {want}",
        hint="run `glue store upgrade` (back the store up first), then retry",
    )
