"""``glue connectors new tap|target NAME``: a singer-sdk connector package to fill in.

The templates are package data (``templates/tap/``, ``templates/target/``, files ending in
``.tmpl`` so no tool takes them for the project's own code); ``{{name}}``, ``{{dist}}``,
``{{package}}`` and ``{{class}}`` are filled in, and a ``__package__`` folder is named after the
package. The result installs with pip and declares both the ``tap-NAME``/``target-NAME``
console script and the ``glue_runtime.taps``/``targets`` entry point, so ``glue connectors
list`` finds it as soon as it is installed. It is written to a temporary folder beside the
destination and renamed into place: an existing folder is never overwritten.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from glue_runtime.errors import ConfigError

ScaffoldKind = Literal["tap", "target"]
NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")


@dataclass(frozen=True)
class Names:
    """The names one connector goes by: ``hello``, ``tap-hello``, ``tap_hello``, ``TapHello``."""

    kind: ScaffoldKind
    name: str

    @property
    def dist(self) -> str:
        return f"{self.kind}-{self.name}"

    @property
    def package(self) -> str:
        return self.dist.replace("-", "_")

    @property
    def class_name(self) -> str:
        return "".join(part.capitalize() for part in re.split(r"[-_]", self.dist))

    def fill(self, text: str) -> str:
        for token, value in (
            ("{{name}}", self.name),
            ("{{dist}}", self.dist),
            ("{{package}}", self.package),
            ("{{class}}", self.class_name),
        ):
            text = text.replace(token, value)
        return text


def names(kind: ScaffoldKind, name: str) -> Names:
    """``NAME`` (``hello``, or ``tap-hello`` for a tap) checked: lowercase letters, digits, and
    single ``-``/``_`` between them, so it is a distribution, a module and a command name."""
    short = name.removeprefix(f"{kind}-")
    if not NAME_RE.fullmatch(short):
        raise ConfigError(
            f"{kind} name {name!r} cannot name a package",
            hint="use lowercase letters and digits, with single '-' or '_' between them "
            "(e.g. 'shopify' or 'my-api')",
        )
    return Names(kind, short)


def _template(kind: ScaffoldKind) -> Traversable:
    return files("glue_runtime.workspace").joinpath("templates", kind)


def _render(source: Traversable, dest: Path, connector: Names) -> list[Path]:
    written = []
    for entry in source.iterdir():
        target_name = connector.package if entry.name == "__package__" else entry.name
        if entry.is_dir():
            (dest / target_name).mkdir()
            written += _render(entry, dest / target_name, connector)
        elif entry.name.endswith(".tmpl"):
            path = dest / target_name.removesuffix(".tmpl")
            path.write_text(connector.fill(entry.read_text()))
            written.append(path)
    return written


def scaffold(kind: ScaffoldKind, name: str, into: Path) -> Path:
    """Write the ``kind-NAME`` package in ``into``; its folder. ConfigError if it exists."""
    connector = names(kind, name)
    dest = into / connector.dist
    if dest.exists():
        raise ConfigError(
            f"{dest} already exists: not overwriting it",
            hint="choose another NAME or --dir, or remove the folder",
        )
    if not into.is_dir():
        raise ConfigError(f"--dir {into} is not a folder", hint="create it first")
    tmp = Path(tempfile.mkdtemp(prefix=f".{connector.dist}-", dir=into))
    try:
        _render(_template(kind), tmp, connector)
        tmp.chmod(0o755)  # mkdtemp's 0700 is for its life as a temporary folder
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
