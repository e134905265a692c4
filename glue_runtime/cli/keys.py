"""`glue keys create|list|revoke`: the service keys clients of `glue serve` present."""

from __future__ import annotations

import datetime as dt

import click

from glue_runtime.cli import _echo_json, main


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds")


@main.group(name="keys")
def keys_group() -> None:
    """Service keys for glue serve's API (docs/server.md)."""


@keys_group.command("create")
@click.argument("name")
@click.option(
    "--tenant", default=None, help="Scope the key to this tenant (default: an admin key)."
)
def keys_create(name: str, tenant: str | None) -> None:
    """Create a key named NAME and print it (once: only its hash is stored)."""
    from glue_runtime.service.keys import create_key
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        who, key = create_key(opened.store, name, tenant)
    scope = f"tenant '{who.tenant}'" if who.tenant else "admin"
    click.echo(f"created service key {who.key_id} ({scope}); it is shown this once:", err=True)
    click.echo(key)


@keys_group.command("list")
@click.option("--revoked", is_flag=True, help="Show revoked keys too.")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def keys_list(revoked: bool, as_json: bool) -> None:
    """The service keys (ids, names, scopes; never the keys themselves)."""
    from glue_runtime.service.keys import list_keys
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        found = list_keys(opened.store, revoked=revoked)
    if as_json:
        _echo_json([k.as_dict() for k in found])
        return
    if not found:
        click.echo("no service keys yet: glue keys create NAME [--tenant T]")
        return
    for k in found:
        scope = f"tenant={k.tenant}" if k.tenant else "admin"
        revoked_note = f"  revoked {_when(k.revoked_at)}" if k.revoked_at else ""
        used = f"last used {_when(k.last_used_at)}" if k.last_used_at else "never used"
        click.echo(
            f"{k.id}  {k.name}  {scope}  created {_when(k.created_at)}  {used}{revoked_note}"
        )


@keys_group.command("revoke")
@click.argument("key_id", metavar="ID")
def keys_revoke(key_id: str) -> None:
    """Revoke the key ID (from `glue keys list`): its next request gets 401."""
    from glue_runtime.service.keys import revoke_key
    from glue_runtime.workspace.open import open_workspace

    with open_workspace() as opened:
        info = revoke_key(opened.store, key_id)
    click.echo(f"revoked service key {info.id} ({info.name})")
