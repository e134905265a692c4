"""Installing one connector into a virtualenv of its own (``.glue/venvs/<name>/``).

The venv is made with the stdlib ``venv`` module in a fresh folder, and pip runs as a
subprocess with its output captured: shown only when it fails, as the lines that say why. pip
is glue's own, pointed at the venv (``pip --python``), when glue's interpreter has one; else
the venv gets its own from ``ensurepip`` (nothing fetched either way). pip's ``--report``
names the distribution the SPEC installed, and the venv's own interpreter reads that
distribution's entry points: its ``tap-*``/``target-*``/``mapper-*`` console scripts, and its
``glue_runtime.taps``/``targets``/``mappers`` entry points (one without a console script of
that name gets a small launcher in ``bin/``).

Only a complete install replaces the connector's venv: ``.glue/venvs/<name>`` is a link to a
versioned folder beside it, switched with one rename, so a failed install changes nothing and a
running connector keeps its files. (Renaming the venv itself would break it: pip writes the
venv's absolute path into every script it installs.)
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from glue_runtime.errors import ConfigError
from glue_runtime.secrets import Redactor

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
PREFIXES = ("tap-", "target-", "mapper-")
GLUE_GROUPS = {"glue_runtime.taps": "tap", "glue_runtime.targets": "target"}
GLUE_GROUPS["glue_runtime.mappers"] = "mapper"
PIP_LINES = 40  # at most this many of pip's lines in an error

# Run by the venv's interpreter: the distribution's entry points as JSON.
_ENTRY_POINTS = """\
import json, sys
from importlib.metadata import distribution
d = distribution(sys.argv[1])
print(json.dumps({"name": d.metadata["Name"], "version": d.version,
                  "entry_points": [[e.group, e.name] for e in d.entry_points]}))
"""

_LAUNCHER = """\
#!{python}
# glue connectors install wrote this: runs entry point {name!r} ({group}) of {dist}.
import sys
from importlib.metadata import entry_points

obj = next(iter(entry_points(group={group!r}, name={name!r}))).load()
cli = getattr(obj, "cli", obj)
main = getattr(cli, "main", None)
sys.exit(main(prog_name={exe!r}) if main is not None else cli())
"""


class InstallError(ConfigError):
    """A connector could not be installed (pip failed, nothing to run in it...): exit 2."""


@dataclass(frozen=True)
class Built:
    """A finished install in its own folder, not yet the connector's current venv."""

    folder: Path
    distribution: str
    version: str
    executables: tuple[str, ...]


def check_name(name: str) -> str:
    """A connector name is a folder name: letters, digits, ``.``, ``_``, ``-``."""
    if not NAME_RE.fullmatch(name):
        raise InstallError(
            f"connector name {name!r} is not usable as a folder name",
            hint="use letters, digits, '.', '_' and '-' (starting with a letter or digit)",
        )
    return name


def redact_url(text: str) -> str:
    """``scheme://user:password@host`` with the password masked (errors, logs)."""
    return re.sub(r"(://[^/:@\s]*:)[^@/\s]+@", r"\1****@", text)


def pip_failure_lines(output: str, masked: Iterable[str] = ()) -> str:
    """The lines of pip's output that say why it failed (from its first error on), with
    passwords in URLs and the ``masked`` values (secrets) masked."""
    lines = [line for line in output.splitlines() if line.strip()]
    first = next(
        (i for i, line in enumerate(lines) if re.match(r"\s*(ERROR|error|\u00d7)", line)), None
    )
    shown = lines[first:] if first is not None else lines
    if len(shown) > PIP_LINES:
        shown = [*shown[:PIP_LINES], f"... ({len(shown) - PIP_LINES} more lines)"]
    return Redactor(masked).redact(redact_url("\n".join(shown)))


def _pip_env() -> dict[str, str]:
    """The environment pip runs in: this one, without what would mix in glue's own packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def build(folder: Path, spec: str, *, shown_spec: str, masked: Iterable[str] = ()) -> Built:
    """Make a venv in ``folder`` and pip-install ``spec`` into it; InstallError if that fails.

    The folder is removed again on any failure. ``shown_spec`` is the SPEC as the user wrote it
    (for messages; ``spec`` may have variables filled in, masked in pip's output
    when an error shows it: ``masked``).
    """
    try:
        _make_venv(folder)
        report = _pip_install(folder, spec, shown_spec, masked)
        dist, version = _requested(report, shown_spec)
        executables = _executables(folder, dist, shown_spec)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Built(folder, dist, version, executables)


def _own_pip() -> bool:
    """Whether glue's interpreter has pip: then it installs into the new venvs (``pip
    --python``), which spares each venv its own copy (``ensurepip`` takes 5-30 s)."""
    return importlib.util.find_spec("pip") is not None


def _make_venv(folder: Path) -> None:
    """A venv on the interpreter glue runs on (its base, when glue itself is in a venv)."""
    venv.EnvBuilder(with_pip=not _own_pip(), symlinks=os.name != "nt").create(folder)


def venv_python(folder: Path) -> Path:
    return folder / "bin" / "python"


def _pip(folder: Path) -> list[str]:
    if _own_pip():
        return [sys.executable, "-m", "pip", "--python", str(venv_python(folder))]
    return [str(venv_python(folder)), "-m", "pip"]


def _pip_install(
    folder: Path, spec: str, shown_spec: str, masked: Iterable[str]
) -> dict[str, object]:
    report_path = folder / "pip-report.json"
    proc = subprocess.run(
        [*_pip(folder), "install", "--report", str(report_path), spec],
        capture_output=True,
        text=True,
        env=_pip_env(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0:
        raise InstallError(
            f"pip could not install {redact_url(shown_spec)!r}:\n"
            + pip_failure_lines(proc.stdout + "\n" + proc.stderr, masked),
            hint="check the SPEC (a name==version, a folder, a wheel, a VCS URL) and pip's "
            "message above; nothing was changed",
        )
    try:
        report: dict[str, object] = json.loads(report_path.read_text())
    finally:
        report_path.unlink(missing_ok=True)
    return report


def _requested(report: dict[str, object], shown_spec: str) -> tuple[str, str]:
    """The name and version of the distribution the SPEC itself named (not its dependencies)."""
    items = report.get("install")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("requested"):
            meta = item.get("metadata") or {}
            return str(meta["name"]), str(meta.get("version", ""))
    raise InstallError(
        f"pip installed nothing for {redact_url(shown_spec)!r}",
        hint="is it already part of the venv's own packages (pip, setuptools)?",
    )


def _executables(folder: Path, dist: str, shown_spec: str) -> tuple[str, ...]:
    """The connector executables the distribution brings, launchers written for entry points
    that have no console script; InstallError when it brings none."""
    proc = subprocess.run(
        [str(venv_python(folder)), "-c", _ENTRY_POINTS, dist],
        capture_output=True,
        text=True,
        env=_pip_env(),
        check=False,
    )
    if proc.returncode != 0:
        raise InstallError(
            f"could not read the entry points of {dist}: {proc.stderr.strip()[-500:]}"
        )
    info = json.loads(proc.stdout)
    found: list[str] = []
    for group, name in info["entry_points"]:
        if group == "console_scripts" and name.startswith(PREFIXES):
            found.append(name)
    for group, name in info["entry_points"]:
        kind = GLUE_GROUPS.get(group)
        exe = f"{kind}-{name.removeprefix(f'{kind}-')}" if kind else ""
        if kind and exe not in found:
            _write_launcher(folder, group, name, exe, dist)
            found.append(exe)
    if not found:
        raise InstallError(
            f"{dist} (from {redact_url(shown_spec)!r}) has no connector in it: no tap-*, "
            "target-* or mapper-* console script and no glue_runtime entry point",
            hint="is it a Singer connector package? nothing was changed",
        )
    return tuple(sorted(found))


def _write_launcher(folder: Path, group: str, name: str, exe: str, dist: str) -> None:
    path = folder / "bin" / exe
    python = venv_python(folder)
    path.write_text(_LAUNCHER.format(python=python, group=group, name=name, exe=exe, dist=dist))
    path.chmod(0o755)


BUILDING = ".glue-building"  # in a venv folder: flocked while its install runs


def new_folder(venvs: Path, name: str) -> tuple[Path, IO[str]]:
    """A fresh folder for a new install of ``name``, beside its current one, and its
    ``.glue-building`` file, flocked until the caller closes it: while it is open no other
    install takes the folder for a stale one (see :func:`remove_stale`)."""
    venvs.mkdir(parents=True, exist_ok=True)
    folder = venvs / f".{name}-{secrets.token_hex(4)}"
    folder.mkdir()
    marker = open(folder / BUILDING, "w")  # noqa: SIM115  (held open: the caller closes it)
    fcntl.flock(marker, fcntl.LOCK_EX)
    return folder, marker


def remove_stale(venvs: Path) -> list[Path]:
    """Remove the venv folders no connector's link points at and no install is building
    (those a killed install left behind); the folders removed. Call it under the installs
    lock, which :func:`new_folder`'s callers also hold, so a folder is never seen half made."""
    if not venvs.is_dir():
        return []
    live = {p.resolve() for p in venvs.iterdir() if p.is_symlink()}
    removed = []
    for folder in venvs.iterdir():
        if folder.is_symlink() or not folder.is_dir() or folder.resolve() in live:
            continue
        if _being_built(folder):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _being_built(folder: Path) -> bool:
    try:
        with open(folder / BUILDING) as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except FileNotFoundError:
        return False
    except BlockingIOError:
        return True
    return False


def switch(link: Path, folder: Path) -> None:
    """Make ``link`` (``.glue/venvs/<name>``) point at ``folder`` in one rename; remove the
    folder it pointed at before."""
    old = link.resolve() if link.is_symlink() else None
    if link.exists() and not link.is_symlink():  # a plain folder someone made: replaced
        shutil.rmtree(link)
    tmp = link.with_name(f".{link.name}-link-{secrets.token_hex(4)}")
    tmp.symlink_to(folder.name)
    os.replace(tmp, link)
    if old is not None and old != folder.resolve() and old.parent == folder.parent:
        shutil.rmtree(old, ignore_errors=True)
