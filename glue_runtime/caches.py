"""Cache files the runtime keeps: their salted names, connectors' ``--about``, entry points.

**Salted names.** A cache file's name is an HMAC of what it was made from, keyed with a random
salt kept (mode 0600) in the cache folder: a discovered catalog's name hashes the tap's config,
credentials included, and unkeyed, anyone who sees the name could test guesses of a weak
password against it offline (``discovery.py`` uses :func:`cache_salt`).

**--about.** Every run asks each of its connectors ``--about --format json`` (the settings it
lists decide which values are secrets and how the config is checked): a whole interpreter start
per connector, as long as the run itself for a small job. The answer depends only on the
installed connector, so it is kept in ``GLUE_CACHE_DIR/connectors/about-*.json`` (default
``$XDG_CACHE_HOME/glue-runtime``, else ``~/.cache/glue-runtime``), one file per connector
*identity*, and reused while that identity stays the same:

- an entry-point connector (a pip-installed package): its distribution's name and version, the
  entry point, and the modification time, size and inode of its metadata folder, of the
  site-packages folder holding it (any install or uninstall there changes it: an upgraded
  singer-sdk too), of every ``.py`` file in the entry point module's package folder(s), and of
  the interpreter;
- an executable (a path, a venv's ``bin/``, ``tap-NAME`` on PATH): its real path, modification
  time, size and inode, and, when its ``#!`` line names a Python in a virtual environment, those
  of that environment's site-packages folder(s).

A changed connector (a new version, an edited or reinstalled file) has another identity and is
asked again. Only answers are kept: a connector without ``--about``, or one that failed or timed
out, is asked again on the next run. What the identity cannot see (an edited module of an
editable install outside the entry point's package folder, a script's imports) is refreshed by
``glue connectors about NAME --refresh`` or by deleting the folder. Entries unused for 30 days
are removed when a new one is written. A cache folder that cannot be written only means no
cache.

**Entry points.** Finding an installed connector by name means listing the entry points of every
installed distribution: importing ``importlib.metadata`` and reading each one's
``entry_points.txt``, about a tenth of a tiny job's start-up. The connectors' groups
(``glue_runtime.taps``/``targets``/``mappers``) are kept in
``GLUE_CACHE_DIR/connectors/entry-points-*.json`` (one per interpreter and ``sys.path`` past
its first entry), with a fingerprint of what is installed: for each ``sys.path`` folder that
holds distributions, the name, modification time and inode of every ``*.dist-info`` /
``*.egg-info`` in it (pip replaces a distribution's folder whenever it installs, upgrades,
reinstalls or removes it), and the ``entry_points.txt`` files the list came from. Any
difference and the list is read again with ``importlib.metadata``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from glue_runtime.connectors import Connector

log = logging.getLogger("glue_runtime.caches")

ABOUT_FORMAT = 1  # bump when what is stored, or how the key is made, changes
PRUNE_AFTER_S = 30 * 24 * 3600
TOUCH_AFTER_S = 24 * 3600  # a hit older than this refreshes the entry's mtime (for pruning)


def cache_salt(folder: Path) -> bytes:
    """A random key kept in the cache folder (mode 0600), made on first use.

    b"" when the folder cannot be written (nothing is cached there either).
    """
    path = folder / ".salt"
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    except OSError:
        return b""  # an unwritable cache folder: no catalog is written there either
    salt = os.urandom(32)
    with os.fdopen(fd, "wb") as fh:
        fh.write(salt)
    return salt


def user_cache_dir() -> Path:
    """``GLUE_CACHE_DIR``, else ``$XDG_CACHE_HOME/glue-runtime``, else ``~/.cache/glue-runtime``."""
    explicit = os.environ.get("GLUE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "glue-runtime"


def connectors_cache_dir() -> Path:
    """Where the --about answers and the entry-point index are kept."""
    return user_cache_dir() / "connectors"


# -- a connector's identity ---------------------------------------------------------------------


def _stat(path: str | os.PathLike[str]) -> list[Any]:
    try:
        st = os.stat(path)
    except OSError:
        return [os.fspath(path), None]
    return [os.fspath(path), st.st_mtime_ns, st.st_size, st.st_ino]


def _py_files(folder: str) -> list[Any]:
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".py"))
    except OSError:
        return [folder, None]
    return [_stat(os.path.join(folder, n)) for n in names]


def _entry_point_identity(ep: EntryPointInfo) -> list[Any] | None:
    from importlib.util import find_spec

    meta = ep.dist_path  # the .dist-info folder
    if meta is None:
        return None
    parts: list[Any] = [ep.group, ep.name, ep.value, ep.dist_name, ep.dist_version]
    parts += [_stat(meta), _stat(Path(meta).parent)]
    names = ep.module.split(".")
    try:
        spec = find_spec(names[0])  # a top-level name: nothing is imported
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:  # a package: its folder's modules, and subpackages'
        folders = list(spec.submodule_search_locations)
        for sub in names[1:]:
            deeper = [os.path.join(f, sub) for f in folders if os.path.isdir(os.path.join(f, sub))]
            if not deeper:
                break
            folders += deeper
        for folder in folders:
            parts.append(_py_files(folder))
    elif spec.origin:
        parts.append(_stat(spec.origin))
    else:
        return None
    parts.append(_stat(sys.executable))
    return parts


def _shebang_venv(exe: str) -> Path | None:
    """The virtual environment whose Python runs ``exe`` by its ``#!`` line, if any."""
    try:
        with open(exe, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    first = head[2:].split(b"\n", 1)[0].strip().split()
    if not first:
        return None
    interp = Path(os.fsdecode(first[0]))
    if not interp.name.startswith("python") or interp.parent.name != "bin":
        return None
    venv = interp.parent.parent
    return venv if (venv / "pyvenv.cfg").exists() else None


def _executable_identity(exe: str) -> list[Any]:
    real = os.path.realpath(exe)
    parts: list[Any] = [real, _stat(real)]
    venv = _shebang_venv(real)
    if venv is not None:
        parts += [_stat(sp) for sp in sorted(venv.glob("lib/python*/site-packages"))]
    return parts


def identity(connector: Connector) -> list[Any] | None:
    """What the connector's ``--about`` answer depends on; None when it cannot be told."""
    try:
        if connector.entry_point is not None:
            ident = _entry_point_identity(connector.entry_point)
        elif len(connector.argv) == 1:
            ident = _executable_identity(connector.argv[0])
        else:
            return None
    except Exception as exc:  # the cache must never break a run
        log.debug("no --about cache for %s: %s", connector.label, exc)
        return None
    if ident is None:
        return None
    return [ABOUT_FORMAT, connector.kind, list(connector.argv), ident]


# -- the --about cache ------------------------------------------------------------------------


class AboutCache:
    """``--about`` answers by connector identity, in one folder (see the module docstring)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else connectors_cache_dir()

    def path_for(self, connector: Connector, *, create: bool) -> Path | None:
        """The file for this connector's identity; None when it has none (or no salt yet)."""
        ident = identity(connector)
        if ident is None:
            return None
        if not create and not (self.folder / ".salt").exists():
            return None
        salt = cache_salt(self.folder)
        if not salt:
            return None
        digest = hmac.new(salt, orjson.dumps(ident), hashlib.sha256).hexdigest()[:24]
        return self.folder / f"about-{connector.label}-{digest}.json"

    def get(self, connector: Connector) -> dict[str, Any] | None:
        path = self.path_for(connector, create=False)
        if path is None:
            return None
        try:
            data = path.read_bytes()
            st = os.stat(path)
        except OSError:
            return None
        try:
            about = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.debug("cached --about %s is not valid JSON; asking again", path)
            return None
        if not isinstance(about, dict):
            return None
        if time.time() - st.st_mtime > TOUCH_AFTER_S:
            with contextlib.suppress(OSError):
                os.utime(path)
        return about

    def put(self, connector: Connector, about: dict[str, Any]) -> None:
        try:
            path = self.path_for(connector, create=True)
            if path is None:
                return
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps(about))
            os.replace(tmp, path)
            self._prune(keep=path)
        except (OSError, TypeError) as exc:  # only a cache
            log.debug("could not cache --about of %s: %s", connector.label, exc)

    def _prune(self, keep: Path) -> None:
        cutoff = time.time() - PRUNE_AFTER_S
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.folder):
                if entry.name.startswith("about-") and entry.path != str(keep):
                    with contextlib.suppress(OSError):
                        if entry.stat().st_mtime < cutoff:
                            os.unlink(entry.path)


# -- the entry-point index ----------------------------------------------------------------------

GROUPS = ("glue_runtime.taps", "glue_runtime.targets", "glue_runtime.mappers")
INDEX_FORMAT = 1
_DIST_SUFFIXES = (".dist-info", ".egg-info")
# importlib.metadata's EntryPoint.pattern: "module.sub:attr.sub [extras]"
_EP_PATTERN = re.compile(
    r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$"
)


@dataclass(frozen=True)
class EntryPointInfo:
    """An installed entry point, as importlib.metadata has it, without importing it."""

    group: str
    name: str
    value: str
    dist_name: str | None = None
    dist_version: str | None = None
    dist_path: str | None = None  # the distribution's .dist-info / .egg-info folder

    @property
    def module(self) -> str:
        match = _EP_PATTERN.match(self.value)
        return match.group("module") if match else self.value.split(":", 1)[0].strip()

    @property
    def attr(self) -> str | None:
        match = _EP_PATTERN.match(self.value)
        return match.group("attr") if match else None

    def load(self) -> Any:
        """The object it names (``importlib.metadata.EntryPoint.load``)."""
        import importlib

        module = importlib.import_module(self.module)
        obj: Any = module
        for part in (self.attr or "").split("."):
            if part:
                obj = getattr(obj, part)
        return obj


def _installed_fingerprint() -> list[Any]:
    """Per ``sys.path`` entry that holds distributions, their folders (name, mtime, inode).

    Entries without any (the script's folder or the current one, usually) are left out, so
    a runner started as ``glue`` and a connector started as ``python -m`` from a project
    folder share one index; one that gains a distribution changes the fingerprint.
    """
    out: list[Any] = []
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except NotADirectoryError:  # a zip file
            out.append([entry, _stat(folder)])
            continue
        except OSError:
            continue  # not there (yet): it holds nothing
        dists = sorted(n for n in names if n.lower().endswith(_DIST_SUFFIXES))
        row = []
        for name in dists:
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            row.append([name, st.st_mtime_ns, st.st_ino])
        if row:
            out.append([os.path.abspath(folder), row])  # "" and the cwd's path: one folder
    return out


def _scan_entry_points() -> tuple[dict[str, list[EntryPointInfo]], list[str]]:
    """The connectors' groups as importlib.metadata lists them, and the files they came from."""
    from importlib.metadata import entry_points

    index: dict[str, list[EntryPointInfo]] = {}
    files: set[str] = set()
    for group in GROUPS:
        infos = []
        for ep in entry_points(group=group):
            dist = ep.dist
            meta = getattr(dist, "_path", None) if dist is not None else None
            infos.append(
                EntryPointInfo(
                    group=group,
                    name=ep.name,
                    value=ep.value,
                    dist_name=dist.name if dist is not None else None,
                    dist_version=dist.version if dist is not None else None,
                    dist_path=os.fspath(meta) if meta is not None else None,
                )
            )
            if meta is not None:
                files.add(os.path.join(os.fspath(meta), "entry_points.txt"))
        index[group] = infos
    return index, sorted(files)


_Index = dict[str, list[EntryPointInfo]]
# This process's last look: (fingerprint, entry_points.txt stats, index).
_MEMO: tuple[list[Any], list[Any], _Index] | None = None


def entry_points(group: str) -> list[EntryPointInfo]:
    """The entry points of one of the connectors' groups, in importlib.metadata's order.

    From the entry-point index when what is installed has not changed (module docstring),
    else from importlib.metadata (and the index is written again). A long-lived process sees
    what is installed after it started: the fingerprint is taken at each call (well under a
    millisecond), the index read only when it changed.
    """
    global _MEMO
    fingerprint = _installed_fingerprint()
    memo = _MEMO
    if memo is None or memo[0] != fingerprint or _stats(memo[1]) != memo[1]:
        files, index = _load_index(fingerprint)
        memo = _MEMO = (fingerprint, files, index)
    return list(memo[2].get(group, ()))


def _stats(files: list[Any]) -> list[Any]:
    return [_stat(f) for f, *_ in files]


def _index_path(folder: Path) -> Path | None:
    salt = cache_salt(folder)
    if not salt:
        return None
    # sys.path[0] is the script's or the current folder: see _installed_fingerprint
    what = orjson.dumps([INDEX_FORMAT, sys.executable, sys.path[1:]])
    return folder / f"entry-points-{hmac.new(salt, what, hashlib.sha256).hexdigest()[:24]}.json"


def _load_index(fingerprint: list[Any]) -> tuple[list[Any], _Index]:
    """(the entry_points.txt files' stats, the index): from the file when it is current."""
    try:
        path = _index_path(connectors_cache_dir())
    except OSError:
        path = None
    if path is not None:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            data = orjson.loads(path.read_bytes())
            files = data["files"]
            if data["fingerprint"] == fingerprint and _stats(files) == files:
                groups = data["groups"]
                return files, {g: [EntryPointInfo(**ep) for ep in eps] for g, eps in groups.items()}
    index, names = _scan_entry_points()
    files = _stats(names)
    if path is not None:
        data = {
            "fingerprint": fingerprint,
            "files": files,
            "groups": {g: [ep.__dict__ for ep in eps] for g, eps in index.items()},
        }
        try:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps(data))
            os.replace(tmp, path)
        except OSError as exc:
            log.debug("could not write the entry-point index %s: %s", path, exc)
    return files, index
