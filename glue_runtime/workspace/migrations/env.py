"""Alembic's environment for the workspace store: always run on a connection the caller gives
(``glue_runtime.workspace.schema``), inside the caller's transaction; no alembic.ini."""

from alembic import context

from glue_runtime.workspace.schema import VERSION_TABLE
from glue_runtime.workspace.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
)
with context.begin_transaction():
    context.run_migrations()
