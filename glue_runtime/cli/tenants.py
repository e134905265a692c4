"""`glue tenants add|list|show|remove`: the builder's customers, each with their own links.

Removing a tenant deletes everything of theirs, so it asks first; without a terminal to ask
on (or with CI set) it refuses unless ``--yes`` says so.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

import click

from glue_runtime.cli import _echo_json, _note, main
from glue_runtime.errors import UsageError
from glue_runtime.workspace import tenancy
from glue_runtime.workspace.links import describe_link
from glue_runtime.workspace.open import open_workspace
from glue_runtime.workspace.store import Tenant


def confirm(question: str, yes: bool) -> bool:
    """True when the user said yes (``--yes``, or at the prompt); UsageError when there is no
    one to ask (no terminal, or CI set), so a script never deletes by accident."""
    if yes:
        return True
    in_ci = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    if in_ci or not sys.stdin.isatty():
        raise UsageError(
            f"{question.rstrip('?')}: not confirmed (no terminal to ask on)",
            hint="add --yes to do it without asking",
        )
    return click.confirm(question, default=False)


def _meta(pairs: tuple[str, ...]) -> dict[str, str]:
    meta = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise UsageError(f"--meta {pair!r} is not KEY=VALUE", hint="e.g. --meta plan=pro")
        meta[key] = value
    return meta


def _created(tenant: Tenant) -> str:
    return dt.datetime.fromtimestamp(tenant.created_at, dt.UTC).isoformat(timespec="seconds")


def _tenant_dict(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "metadata": tenant.metadata,
        "created": _created(tenant),
    }


@main.group(name="tenants")
def tenants_group() -> None:
    """The workspace's tenants (your customers) and what they linked."""


@tenants_group.command("add")
@click.argument("tenant_id", metavar="ID")
@click.option("--name", default="", help="A display name.")
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Free-form metadata (repeat).")
def tenants_add(tenant_id: str, name: str, meta: tuple[str, ...]) -> None:
    """Add a tenant (ids: letters, digits, '.', '_', '-'; up to 200)."""
    values = _meta(meta)
    with open_workspace() as opened:
        tenant = tenancy.add_tenant(opened, tenant_id, name=name, meta=values)
    click.echo(f"added tenant '{tenant.id}'")


@tenants_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def tenants_list(as_json: bool) -> None:
    """List the tenants with how many links each has."""
    with open_workspace() as opened:
        found = opened.store.tenants()
        counts: dict[str, int] = {}
        for link in opened.store.links():
            counts[link.tenant] = counts.get(link.tenant, 0) + 1
    rows = [{**_tenant_dict(t), "links": counts.get(t.id, 0)} for t in found]
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        _note("no tenants yet: add one with `glue tenants add ID`")
    for row in rows:
        click.echo(f"{row['id']:<24} {row['links']:>3} links  {row['created']}  {row['name']}")


@tenants_group.command("show")
@click.argument("tenant_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def tenants_show(tenant_id: str, as_json: bool) -> None:
    """Show a tenant and its links with their status (never a secret)."""
    with open_workspace() as opened:
        tenant = opened.store.tenant(tenant_id)
        links = [describe_link(opened, lk) for lk in opened.store.links(tenant=tenant.id)]
    if as_json:
        _echo_json({**_tenant_dict(tenant), "links": links})
        return
    click.echo(f"tenant {tenant.id}" + (f" ({tenant.name})" if tenant.name else ""))
    click.echo(f"  created: {_created(tenant)}")
    for key, value in sorted(tenant.metadata.items()):
        click.echo(f"  {key}: {value}")
    if not links:
        click.echo("  no links yet")
    for lk in links:
        click.echo(
            f"  {lk['flow']}/{lk['connector']}: {lk['direction']} {lk['auth']} {lk['status']}"
            f" (updated {lk['updated']})" + (f": {lk['last_error']}" if lk["last_error"] else "")
        )


@tenants_group.command("remove")
@click.argument("tenant_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.option("--force", is_flag=True, help="Even while a job of the tenant is running.")
def tenants_remove(tenant_id: str, yes: bool, force: bool) -> None:
    """Remove a tenant with its links, credentials (revoked where the connector can),
    catalogs, field map overrides and state."""
    with open_workspace() as opened:
        tenant = opened.store.tenant(tenant_id)
        n = len(opened.store.links(tenant=tenant.id))
        if not confirm(f"remove tenant '{tenant.id}' and its {n} links?", yes):
            raise UsageError(f"tenant '{tenant.id}' kept: not confirmed")
        done = tenancy.remove_tenant(opened, tenant.id, force=force)
    click.echo(f"removed tenant '{done.tenant}'")
    for table, count in done.removed.items():
        if count and table != "tenants":
            click.echo(f"  {table}: {count}")
    for rev in done.revocations:
        what = f"{rev.link.flow}/{rev.link.connector}"
        if rev.ok:
            click.echo(f"  revoked the tokens of {what} at the provider")
        else:
            _note(
                f"warning: could not revoke the tokens of {what} ({rev.error}); they are "
                "deleted here, revoke them at the provider",
                "warning",
            )
