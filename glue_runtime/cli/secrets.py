"""`glue secrets`: the workspace's key (new, rotate, which keys are used) and app secrets."""

from __future__ import annotations

import os
import sys

import click

from glue_runtime.cli import _echo_json, main
from glue_runtime.errors import SecretKeyError, UsageError
from glue_runtime.workspace.appsecrets import (
    app_secret_names,
    set_app_secret,
    unset_app_secret,
)
from glue_runtime.workspace.crypto import ENV_KEY, new_key
from glue_runtime.workspace.open import open_workspace
from glue_runtime.workspace.rekey import key_usage
from glue_runtime.workspace.rotation import rotate_key


@main.group(name="secrets")
def secrets_group() -> None:
    """The workspace's secret key and its app secrets (kept encrypted in the store)."""


@secrets_group.command("new-key")
def new_key_command() -> None:
    """Print a new random 256-bit key (base64), e.g. for GLUE_SECRET_KEY."""
    click.echo(new_key())


@secrets_group.command("keys")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def keys_command(as_json: bool) -> None:
    """The keyring's key ids (the current one first) and how many values each encrypts."""
    with open_workspace() as opened:
        keyring = opened.keyring
        if keyring is None:
            raise SecretKeyError(
                "no secret key: the workspace has no keyring",
                hint=f"set {ENV_KEY}, or keep the key file `glue init` made (.glue/secret.key)",
            )
        usage = key_usage(opened.store)
    rows = [
        {"key_id": kid, "current": kid == keyring.current_id, "values": usage.get(kid, 0)}
        for kid in keyring.key_ids
    ]
    rows += [
        {"key_id": kid or "(not encrypted)", "current": False, "values": n, "missing": True}
        for kid, n in sorted(usage.items())
        if kid not in keyring.key_ids
    ]
    if as_json:
        _echo_json({"source": keyring.source, "keys": rows})
        return
    click.echo(f"keys from {keyring.source}:")
    for r in rows:
        mark = "current" if r["current"] else ("NOT IN THE KEYRING" if r.get("missing") else "old")
        click.echo(f"  {r['key_id']}  {mark:<7}  {r['values']} value(s)")


@secrets_group.command("rotate-key")
@click.option(
    "--drop-old", is_flag=True, help="Then remove the old keys (refused while a value needs one)."
)
@click.option(
    "--no-new-key",
    is_flag=True,
    help="Re-encrypt with the current first key instead of making one (finishes a rotation, "
    f"or uses a key you put first in {ENV_KEY}).",
)
def rotate_key_command(drop_old: bool, no_new_key: bool) -> None:
    """Make a new key, put it first, re-encrypt every secret in the store with it.

    The old keys stay (values still decrypt) until --drop-old. With the keys in
    GLUE_SECRET_KEY, prints the value to set before re-encrypting anything.
    """

    def show(value: str) -> None:
        click.echo(f"set {ENV_KEY}={value}")
        sys.stdout.flush()

    with open_workspace() as opened:
        done = rotate_key(opened, generate=not no_new_key, drop_old=drop_old, show=show)
    count = sum(done.reencrypted.values())
    kinds = ", ".join(f"{n} {kind}" for kind, n in done.reencrypted.items() if n)
    click.echo(
        f"current key {done.current}; re-encrypted {count} value(s)" + (f": {kinds}" * bool(kinds))
    )
    if done.dropped:
        click.echo(f"dropped old key(s) {', '.join(done.dropped)}")
    elif not drop_old and done.previous:
        click.echo(
            f"old key(s) {', '.join(done.previous)} kept; drop them with "
            "`glue secrets rotate-key --no-new-key --drop-old` once every process uses the new key"
        )


@secrets_group.command("set")
@click.argument("flow")
@click.argument("connector")
@click.argument("name")
@click.option("--from-env", "from_env", metavar="VAR", help="Take the value from this variable.")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the value from standard input.")
def set_command(
    flow: str, connector: str, name: str, from_env: str | None, from_stdin: bool
) -> None:
    """Keep an app secret of a flow's connector, encrypted (e.g. NAME client_secret).

    Asks for the value without echo, unless --from-env or --stdin gives it.
    """
    if from_env and from_stdin:
        raise UsageError("give the value with --from-env or --stdin, not both")
    with open_workspace() as opened:
        opened.workspace.flow(flow).connector(connector)  # named errors before asking
        value = _secret_value(name, from_env, from_stdin)
        replaced = set_app_secret(opened, flow, connector, name, value)
    verb = "replaced" if replaced else "stored"
    click.echo(f"{verb} app secret '{name}' of {flow}/{connector} (encrypted)")


def _secret_value(name: str, from_env: str | None, from_stdin: bool) -> str:
    if from_env:
        value = os.environ.get(from_env, "")
        if not value:
            raise UsageError(f"environment variable {from_env} is not set or empty")
        return value
    if from_stdin:
        return sys.stdin.read().removesuffix("\n").removesuffix("\r")
    return str(click.prompt(f"{name} (not shown)", hide_input=True, err=True))


@secrets_group.command("list")
@click.option("--flow", help="Only this flow's.")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def list_command(flow: str | None, as_json: bool) -> None:
    """The app secrets that are set: names only, never values."""
    with open_workspace() as opened:
        if flow is not None:
            opened.workspace.flow(flow)
        names = app_secret_names(opened, flow)
    if as_json:
        _echo_json([{"flow": f, "connector": c, "name": n} for f, c, n in names])
        return
    for f, c, n in names:
        click.echo(f"{f}/{c}  {n}")
    if not names:
        click.echo("no app secrets set")


@secrets_group.command("unset")
@click.argument("flow")
@click.argument("connector")
@click.argument("name")
def unset_command(flow: str, connector: str, name: str) -> None:
    """Remove an app secret."""
    with open_workspace() as opened:
        unset_app_secret(opened, flow, connector, name)
    click.echo(f"removed app secret '{name}' of {flow}/{connector}")
