"""`glue init DIR`: make a workspace (glue.yml, .gitignore, the secret key, the store)."""

from __future__ import annotations

from pathlib import Path

import click

from glue_runtime.cli import main
from glue_runtime.workspace.create import init_workspace
from glue_runtime.workspace.crypto import ENV_KEY


@main.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--force", is_flag=True, help="Write the glue.yml template over an existing one (else kept)."
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the secret key in this file (e.g. outside the workspace); recorded in glue.yml.",
)
@click.option("--no-key", is_flag=True, help=f"Write no key file: the key comes from {ENV_KEY}.")
def init_command(directory: Path, force: bool, key_file: Path | None, no_key: bool) -> None:
    """Make a workspace in DIRECTORY (default: here) with a demo flow to start from.

    Writes glue.yml, a .gitignore keeping .glue/ out of git, the secret key file
    .glue/secret.key (mode 0600; none when GLUE_SECRET_KEY is set) and the store
    (SQLite in .glue/, or GLUE_STORE_URL). In a folder that has a glue.yml already (a
    workspace cloned from git), keeps it and makes only what the clone lacks.
    """
    done = init_workspace(directory, force=force, key_file=key_file, no_key=no_key)
    click.echo(f"made a workspace in {done.root}:")
    for line in done.made:
        click.echo(f"  {line}")
    if done.key == ENV_KEY:
        click.echo(f"  secrets are encrypted with the key in {ENV_KEY} (keep it set)")
    here = "" if done.root == Path.cwd().resolve() else f"cd {directory}\n  "
    if done.kept_config:
        click.echo(f"next:\n  {here}glue flows list\n  glue tenants add TENANT")
        return
    click.echo(
        "next:\n"
        f"  {here}glue tenants add acme\n"
        "  glue link demo files --tenant acme\n"
        "  glue run demo --tenant acme"
    )
