"""Workspaces: flows that group connectors, tenants and their linked connectors, credentials.

A workspace is a folder with a ``glue.yml`` (flows, their supported connectors and targets,
field maps, ETL scripts: what a builder versions) and a store for what changes at run time
(tenants, links, encrypted credentials, catalogs, field map overrides, state). Modules:

- ``model``: the values glue.yml describes; ``config``: reading and checking glue.yml;
- ``store``: the store (SQLAlchemy Core, SQLite or PostgreSQL); ``crypto``: secrets at rest;
- ``names``: named errors with close matches.

The core (runner, stages, state interface) knows nothing of tenants: this layer turns a
(flow, tenant, connector) into a core run.
"""
