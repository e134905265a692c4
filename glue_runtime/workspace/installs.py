"""Connectors the workspace installed, each into a virtualenv of its own.

``glue connectors install SPEC`` puts a pip-installable connector into
``.glue/venvs/<name>/`` and records it in glue.yml's ``connectors:`` section (``<name>:
{pip_url: SPEC, executables: [...]}``), so connectors whose dependencies conflict live side by
side and another machine reproduces them with ``glue connectors install`` (no SPEC). This
module finds what was installed: a connector name or executable name becomes the path of the
executable in its venv, which glue_runtime's connector resolution (``connectors.resolve``)
runs like any other path. The installing itself is in :mod:`glue_runtime.workspace.venvs`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from glue_runtime.connectors import Connector, Kind
from glue_runtime.errors import ConnectorNotFound
from glue_runtime.flow import expand_env
from glue_runtime.workspace import gluefile
from glue_runtime.workspace.model import InstalledConnector, Workspace
from glue_runtime.workspace.venvs import (
    Built,
    InstallError,
    build,
    check_name,
    new_folder,
    redact_url,
    remove_stale,
    switch,
)

KINDS: tuple[Kind, ...] = ("tap", "target", "mapper")
log = logging.getLogger("glue_runtime.workspace.installs")
RECORD_FILE = "glue-install.json"  # in each venv: what it was installed from


def venvs_dir(workspace: Workspace) -> Path:
    """Where the workspace's connector virtualenvs live (git-ignored, with the store)."""
    return workspace.data_dir / "venvs"


def venv_dir(workspace: Workspace, name: str) -> Path:
    """The virtualenv of the installed connector ``name`` (a link to its current version)."""
    return venvs_dir(workspace) / name


def kind_of(executable: str) -> Kind | None:
    """``tap`` for ``tap-x``, ``target`` for ``target-x``...; None for anything else."""
    for kind in KINDS:
        if executable.startswith(f"{kind}-"):
            return kind
    return None


def _matches(executable: str, name: str, kind: Kind | None) -> bool:
    """Whether ``name`` (``tap-x``, or ``x`` with a kind or alone) names ``executable``."""
    if executable == name:
        return kind is None or kind_of(executable) == kind
    kinds = [kind] if kind else list(KINDS)
    return any(executable == f"{k}-{name}" for k in kinds)


def _candidates(
    workspace: Workspace, name: str, kind: Kind | None
) -> list[tuple[InstalledConnector, str]]:
    """The (installed connector, executable) pairs ``name`` may mean, best first."""
    installed = workspace.installed
    if name in installed:  # the connector's own name: its executables of that kind
        own = installed[name]
        exes = [e for e in own.executables if kind is None or kind_of(e) == kind]
        return [(own, e) for e in exes]
    return [(c, e) for c in installed.values() for e in c.executables if _matches(e, name, kind)]


def installed_executable(workspace: Workspace, name: str, kind: Kind | None = None) -> Path | None:
    """The executable in the managed venv that ``name`` means, if the workspace installed one.

    ``name`` is an installed connector's name (``--name``, by default its distribution's) or
    one of its executables (``tap-hello``, or ``hello`` with ``kind``); ``kind`` picks the tap
    or the target of a package that has both. A connector recorded in glue.yml whose venv is
    missing here (a fresh clone) gives None, as does a name that means several executables.
    """
    found = _candidates(workspace, name, kind)
    if len(found) != 1:
        return None
    connector, exe = found[0]
    path = venv_dir(workspace, connector.name) / "bin" / exe
    return path if path.is_file() else None


def resolve_connector(workspace: Workspace, name: str, kind: Kind | None = None) -> str:
    """What ``connectors.resolve`` should be given for a supported connector's ``connector``.

    The path of the executable in the workspace's venv when the workspace installed it, the
    venv folder when ``name`` is an installed package with both a tap and a target (the
    resolution then picks ``bin/tap-*`` or ``bin/target-*`` by kind), else ``name`` unchanged
    (an entry point, a ``tap-NAME`` on PATH, a path). A connector glue.yml records but that is
    not installed on this machine is a named error saying how to install it.
    """
    found = _candidates(workspace, name, kind)
    if not found:
        return name
    venvs = {c.name for c, _ in found}
    if len(venvs) == 1:
        (connector_name,) = venvs
        folder = venv_dir(workspace, connector_name)
        if not (folder / "bin").is_dir():
            raise ConnectorNotFound(
                f"connector {name!r} is recorded in {workspace.config_path} (connectors: "
                f"{connector_name}) but not installed in {folder}",
                hint="run `glue connectors install` (no SPEC installs what glue.yml lists)",
            )
        if len(found) == 1:
            return str(folder / "bin" / found[0][1])
        return str(folder)
    return name  # several installed packages share the name: the ordinary resolution decides


def workspace_connectors(workspace: Workspace) -> list[Connector]:
    """The connectors installed in the workspace's venvs (for ``glue connectors list``)."""
    found: list[Connector] = []
    for connector in workspace.installed.values():
        folder = venv_dir(workspace, connector.name)
        for exe in connector.executables:
            kind = kind_of(exe)
            path = folder / "bin" / exe
            if kind is None or not path.is_file():
                continue
            version = install_record(folder).get("version")
            found.append(
                Connector(exe, kind, [str(path)], "workspace", str(folder), version=version)
            )
    return found


# -- installing --------------------------------------------------------------------------------

_PASSWORD_IN_URL = re.compile(r"://[^/@\s]*:[^@/\s$]+@")


@dataclass(frozen=True)
class Installed:
    """What one install did: the connector as glue.yml records it, and what pip installed."""

    connector: InstalledConnector
    distribution: str
    version: str
    venv: Path
    recorded: bool  # glue.yml changed


def _is_path(spec: str) -> bool:
    if "://" in spec or spec.startswith(("git+", "hg+", "svn+", "bzr+")):
        return False
    return spec.startswith((".", "/", "~")) or os.sep in spec or spec.endswith(".whl")


@dataclass(frozen=True)
class Spec:
    """A SPEC three ways: for pip, for glue.yml, and the environment values filled into it
    (a token in a VCS URL: masked wherever pip's output is shown)."""

    pip: str
    recorded: str
    filled: frozenset[str] = frozenset()


def _specs(workspace: Workspace, spec: str, cwd: Path) -> Spec:
    """What pip is given and what glue.yml records for a SPEC given in ``cwd``.

    A local folder or wheel is given to pip as an absolute path and recorded relative to the
    workspace (``./pkgs/tap-x``) when it is inside it, so a clone elsewhere installs it too.
    ``${VAR}`` is filled in for pip and recorded as written (a token in a VCS URL stays out of
    glue.yml); a password written in the URL itself is refused for that reason.
    """
    if _PASSWORD_IN_URL.search(spec):
        raise InstallError(
            f"the SPEC {redact_url(spec)!r} has a password in its URL, which glue.yml would keep",
            hint="write it as ${VAR} (quoted, so the shell leaves it) and set VAR in the "
            "environment",
        )
    values: set[str] = set()
    filled = str(expand_env(spec, where="the SPEC", found=values))
    if not _is_path(filled):
        return Spec(filled, spec, frozenset(values))
    path = (cwd / Path(filled).expanduser()).resolve()
    if not path.exists():
        raise InstallError(
            f"no such folder or wheel: {path} (from the SPEC {spec!r})",
            hint="give a folder with a pyproject.toml or setup.py, a .whl file, a "
            "name==version or a VCS URL",
        )
    if "${" in spec:
        return Spec(str(path), spec, frozenset(values))
    try:
        return Spec(str(path), f"./{path.relative_to(workspace.root)}")
    except ValueError:
        return Spec(str(path), str(path))


def install(
    workspace: Workspace, spec: str, *, name: str | None = None, cwd: Path | None = None
) -> Installed:
    """Install ``spec`` into the venv of connector ``name`` (default: the distribution's name)
    and record it in glue.yml. A failure (pip's, a missing folder, no connector executable in
    the distribution) is an InstallError and leaves the venvs and glue.yml as they were."""
    if name is not None:
        check_name(name)
    return _install(workspace, _specs(workspace, spec, cwd or Path.cwd()), name, shown_spec=spec)


def _install(workspace: Workspace, spec: Spec, name: str | None, *, shown_spec: str) -> Installed:
    with _installing(workspace):  # the folder is made where no other install sweeps
        for stale in remove_stale(venvs_dir(workspace)):
            log.info("removed %s, left by an install that did not finish", stale)
        folder, marker = new_folder(venvs_dir(workspace), name or "install")
    with marker:
        built = build(folder, spec.pip, shown_spec=shown_spec, masked=spec.filled)
        return _switch_in(workspace, built, spec.recorded, name)


def _switch_in(
    workspace: Workspace, built: Built, recorded_spec: str, name: str | None
) -> Installed:
    """Make a finished build the connector's venv and record it in glue.yml (or, failing,
    remove it and change nothing)."""
    try:
        final = check_name(name or built.distribution)
    except BaseException:
        shutil.rmtree(built.folder, ignore_errors=True)
        raise
    try:
        record = {"pip_url": recorded_spec, "distribution": built.distribution}
        record["version"] = built.version
        (built.folder / RECORD_FILE).write_text(json.dumps(record))
        with _installing(workspace):  # glue.yml read, checked and written again as one step
            new_text = gluefile.edited(
                workspace.config_path, final, recorded_spec, built.executables
            )
            switch(venv_dir(workspace, final), built.folder)
            if new_text is not None:
                gluefile.write_atomically(workspace.config_path, new_text)
    except BaseException:
        if venv_dir(workspace, final).resolve() != built.folder.resolve():
            shutil.rmtree(built.folder, ignore_errors=True)
        raise
    return Installed(
        InstalledConnector(final, recorded_spec, built.executables),
        built.distribution,
        built.version,
        venv_dir(workspace, final),
        new_text is not None,
    )


@contextlib.contextmanager
def _installing(workspace: Workspace) -> Iterator[None]:
    """An exclusive lock on the workspace's installs (``.glue/venvs/.lock``), held while one
    switches its venv and edits glue.yml: two installs at once cannot lose each other's entry.
    Building the venv, the slow part, happens before, unlocked."""
    path = venvs_dir(workspace) / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another `glue connectors install` in %s", workspace.root)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def missing(workspace: Workspace) -> list[InstalledConnector]:
    """The connectors glue.yml lists that are not installed here as it says: no venv, an
    executable missing, or installed from another ``pip_url`` (a pin someone changed)."""
    raw = gluefile.raw_connectors(workspace.config_path)
    todo = []
    for c in workspace.installed.values():
        folder = venv_dir(workspace, c.name)
        present = bool(c.executables) and all((folder / "bin" / e).is_file() for e in c.executables)
        written = str((raw.get(c.name) or {}).get("pip_url") or c.pip_url)
        if not present or install_record(folder).get("pip_url") != written:
            todo.append(c)
    return todo


def install_missing(workspace: Workspace) -> list[Installed]:
    """Install every connector glue.yml lists that this machine lacks or has from another
    ``pip_url`` (a fresh clone, a worker, a pin changed in git).

    Relative folders are read from the workspace; glue.yml keeps its SPECs as written (with
    their ``${VAR}``), and changes only if a connector now brings other executables.
    """
    raw = gluefile.raw_connectors(workspace.config_path)
    done = []
    for connector in missing(workspace):
        written = raw.get(connector.name) or {}
        recorded = str(written.get("pip_url") or connector.pip_url)
        spec = _specs(workspace, recorded, workspace.root)
        done.append(_install(workspace, spec, connector.name, shown_spec=recorded))
    return done


def install_record(folder: Path) -> dict[str, Any]:
    """What an install wrote into its venv (``glue-install.json``): the ``pip_url`` it was
    installed from (as glue.yml records it), the distribution and its version; {} if none."""
    try:
        found = json.loads((folder / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def load_for_installs(root: Path | None = None) -> Workspace:
    """The workspace as installing and finding connectors needs it: its folder and glue.yml's
    ``connectors:`` (``${VAR}`` filled in their ``pip_url`` only). A machine that installs
    connectors (a CI job building a worker image) need not have the flows' secrets in its
    environment, which reading the whole glue.yml (``load_workspace``) asks for."""
    from glue_runtime.errors import ConfigError
    from glue_runtime.workspace.config import CONFIG_NAME, find_workspace, load_workspace

    folder = root if root is not None else find_workspace()
    if folder is None or not (folder / CONFIG_NAME).is_file():
        return load_workspace(folder)  # raises its "no workspace here" error
    path = folder / CONFIG_NAME
    try:
        raw = gluefile.raw_connectors(path)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    installed = {}
    for name, body in raw.items():
        entry = body if isinstance(body, dict) else {}
        where = f"{path} connectors.{name}.pip_url"
        pip_url = str(expand_env(str(entry.get("pip_url") or ""), where=where))
        exes = tuple(str(e) for e in entry.get("executables") or ())
        installed[str(name)] = InstalledConnector(str(name), pip_url, exes)
    return Workspace(root=folder.resolve(), flows={}, installed=installed)


def _here() -> Workspace | None:
    """The workspace around the current folder, for finding its connectors (None outside
    one, or when its glue.yml cannot be read: that is for the commands that need it to say)."""
    from glue_runtime.errors import ConfigError
    from glue_runtime.workspace.config import find_workspace

    root = find_workspace()
    if root is None:
        return None
    try:
        return load_for_installs(root)
    except ConfigError:
        return None


def here_installed() -> list[Connector]:
    """The connectors the workspace around the current folder installed (for ``list``)."""
    workspace = _here()
    return workspace_connectors(workspace) if workspace is not None else []


def here_resolved(name: str, kind: Kind) -> str:
    """:func:`resolve_connector` in the workspace around the current folder, if any (``about``)."""
    workspace = _here()
    return resolve_connector(workspace, name, kind) if workspace is not None else name
