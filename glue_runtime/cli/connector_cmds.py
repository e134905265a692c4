"""``glue connectors install`` and ``glue connectors new``: the workspace's own connectors.

The workspace modules are imported inside the commands: importing the CLI must stay cheap (a
run's start-up imports no yaml once its caches are warm; tests/test_about_cache.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from glue_runtime.cli import _note, connectors_group

if TYPE_CHECKING:
    from glue_runtime.workspace.installs import Installed


def _say_installed(done: Installed) -> None:
    exes = ", ".join(done.connector.executables)
    where = "recorded in glue.yml" if done.recorded else "glue.yml already records it"
    _note(
        f"installed {done.connector.name} ({done.distribution} {done.version}) into "
        f"{done.venv}: {exes}; {where}"
    )


@connectors_group.command("install")
@click.argument("spec", required=False)
@click.option("--name", help="The connector's name (default: its distribution's name).")
def connectors_install(spec: str | None, name: str | None) -> None:
    """Install a connector into a virtualenv of the workspace's own, and record it in glue.yml.

    SPEC is anything pip installs: name==version, a folder, a wheel, a VCS URL. With no SPEC,
    installs every connector glue.yml lists that is not installed here (a fresh clone).
    """
    from glue_runtime.workspace.installs import (
        install,
        install_missing,
        load_for_installs,
        missing,
    )
    from glue_runtime.workspace.venvs import redact_url

    workspace = load_for_installs()
    if spec is None:
        if name is not None:
            raise click.UsageError("--name needs a SPEC")
        todo = missing(workspace)
        if not todo:
            _note(f"all {len(workspace.installed)} connectors glue.yml lists are installed")
            return
        _note(
            f"installing {', '.join(c.name for c in todo)} (glue.yml lists them: not "
            "installed here, or from another pip_url)"
        )
        for done in install_missing(workspace):
            _say_installed(done)
        return
    _note(
        f"installing {redact_url(spec)} into a virtualenv of its own "
        "(pip's output is shown if it fails)..."
    )
    _say_installed(install(workspace, spec, name=name, cwd=Path.cwd()))


@connectors_group.command("new")
@click.argument("kind", type=click.Choice(["tap", "target"]))
@click.argument("name")
@click.option(
    "--dir",
    "into",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="The folder to make the package in (default: the current one).",
)
def connectors_new(kind: str, name: str, into: Path) -> None:
    """Scaffold a singer-sdk tap or target package: pyproject with its entry point, a stream
    or sink, a README and singer-sdk's standard tests. Installed, glue finds it at once."""
    from glue_runtime.workspace.scaffold import scaffold

    folder = scaffold("tap" if kind == "tap" else "target", name, into)
    click.echo(str(folder))
    _note(
        f"made {folder}; next: pip install -e '{folder}[test]' (or `glue connectors install "
        f"{folder}` in a workspace), then `glue connectors list`; its tests: pytest {folder}"
    )
