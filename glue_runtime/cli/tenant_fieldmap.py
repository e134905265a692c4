"""`glue fieldmap set|get|unset FLOW CONNECTOR --tenant T`: a tenant's own field map for one
source of a workspace flow, kept in the store; it replaces the flow's for that tenant's runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from glue_runtime.cli import _note, fieldmap
from glue_runtime.errors import ConfigError, UsageError

if TYPE_CHECKING:  # the workspace layer (SQLAlchemy, yaml) loads only when a command runs
    from glue_runtime.workspace.open import Opened


def _where(flow: str, connector: str, tenant: str) -> tuple[Opened, str]:
    """The opened workspace, after checking the flow, source and tenant exist (named errors),
    and the link's name."""
    from glue_runtime.workspace.open import open_workspace
    from glue_runtime.workspace.runs import source_ids

    opened = open_workspace()
    try:
        source_ids(opened.workspace.flow(flow), connector)
        opened.store.tenant(tenant)
    except BaseException:
        opened.close()
        raise
    return opened, f"{flow}/{tenant}/{connector}"


@fieldmap.command("set")
@click.argument("flow")
@click.argument("connector")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--tenant", required=True, help="The tenant whose field map this is.")
def fieldmap_set(flow: str, connector: str, file: str, tenant: str) -> None:
    """Give TENANT its own field map (FILE) for source CONNECTOR of workspace flow FLOW."""
    from glue_runtime.fieldmap import load_field_map
    from glue_runtime.workspace.tenantmap import resolve_for_tenant

    field_map = load_field_map(file)  # a named error for a file that is no field map
    opened, name = _where(flow, connector, tenant)
    with opened:
        catalog = opened.store.catalog(flow, tenant, connector)
        if catalog is not None:  # checked against the tenant's catalog, as its runs will
            for warning in resolve_for_tenant(field_map, catalog, tenant)[1]:
                _note(f"warning: {warning}", "warning")
        opened.store.save_fieldmap_override(flow, tenant, connector, Path(file).read_text())
        opened.store.record("fieldmap-override-set", name)
    _note(f"field map override of {name} saved from {file}: the next run of {flow} uses it")


@fieldmap.command("get")
@click.argument("flow")
@click.argument("connector")
@click.option("--tenant", required=True, help="The tenant whose field map to print.")
def fieldmap_get(flow: str, connector: str, tenant: str) -> None:
    """Print TENANT's own field map for source CONNECTOR of FLOW (an error when it has none)."""
    opened, name = _where(flow, connector, tenant)
    with opened:
        body = opened.store.fieldmap_override(flow, tenant, connector)
    if body is None:
        raise ConfigError(
            f"{name} has no field map override: its runs use the flow's field map",
            hint=f"give it one: glue fieldmap set {flow} {connector} FILE --tenant {tenant}",
        )
    click.echo(body, nl=not body.endswith("\n"))


@fieldmap.command("unset")
@click.argument("flow")
@click.argument("connector")
@click.option("--tenant", required=True, help="The tenant whose override to remove.")
def fieldmap_unset(flow: str, connector: str, tenant: str) -> None:
    """Remove TENANT's own field map for CONNECTOR of FLOW: the flow's applies again."""
    import sqlalchemy as sa

    from glue_runtime.workspace.store import fieldmap_overrides as table

    opened, name = _where(flow, connector, tenant)
    with opened:
        with opened.store.write() as conn:
            gone = conn.execute(
                sa.delete(table).where(
                    table.c.flow == flow, table.c.tenant == tenant, table.c.connector == connector
                )
            ).rowcount
        if gone:
            opened.store.record("fieldmap-override-unset", name)
    if not gone:
        raise UsageError(f"{name} has no field map override")
    _note(f"field map override of {name} removed: its runs use the flow's field map again")
