"""The connector registry: finding a tap or target by name, and what it says about itself.

A connector is found, in this order, as:

1. a path: an executable file, or a virtual environment folder holding ``bin/tap-*`` /
   ``bin/target-*`` (so a connector with conflicting dependencies lives in its own venv);
2. an entry point in the ``glue_runtime.taps`` / ``glue_runtime.targets`` groups, declared by a
   pip-installed connector package (run as ``python -m glue_runtime.launch``);
3. an executable on PATH named ``tap-NAME`` / ``target-NAME`` (``NAME`` itself only when it
   already carries that prefix).

A bare name never runs an arbitrary program on PATH: ``--tap file`` must not start the system's
``file`` command, nor ``--target sqlite3`` the ``sqlite3`` shell. A path runs anything.

Mappers (kind ``mapper``) are found the same way: a path, a ``glue_runtime.mappers`` entry
point, or a ``mapper-NAME`` executable.
"""

from __future__ import annotations

import decimal
import difflib
import os
import shutil
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import orjson

from glue_runtime.caches import EntryPointInfo
from glue_runtime.caches import entry_points as _installed_entry_points
from glue_runtime.errors import ConfigError, ConnectorError, ConnectorNotFound, ConnectorTimeout
from glue_runtime.secrets import secret_paths_from_schema
from glue_runtime.timeouts import Timeouts

Kind = Literal["tap", "target", "mapper"]
GROUPS: dict[str, str] = {
    "tap": "glue_runtime.taps",
    "target": "glue_runtime.targets",
    "mapper": "glue_runtime.mappers",
}


@dataclass
class Connector:
    """A tap or target this machine can run."""

    name: str
    kind: Kind
    argv: list[str]
    source: str  # "entry point", "PATH", "path", "venv"
    location: str
    version: str | None = None
    _about: dict[str, Any] | None = field(default=None, repr=False)
    _about_loaded: bool = field(default=False, repr=False)
    # How long --about may take (None: no limit); a job sets it from its timeouts.
    about_timeout_s: float | None = field(default=Timeouts.about, repr=False)
    # The installed entry point it runs (source "entry point"): part of its --about cache key.
    entry_point: EntryPointInfo | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        base = self.name
        return base if base.startswith(f"{self.kind}-") else f"{self.kind}-{base}"

    def about(self, *, refresh: bool = False) -> dict[str, Any] | None:
        """The connector's ``--about --format json`` output, or None if it has none.

        Kept in the --about cache by the connector's identity (``caches.py``): a run after
        the first starts no ``--about`` process while the connector stays the same.
        ``refresh`` asks the connector again and replaces the cached answer.
        """
        if refresh or not self._about_loaded:
            self._about = _about(self, refresh=refresh)
            self._about_loaded = True
        return self._about

    @property
    def capabilities(self) -> set[str]:
        about = self.about() or {}
        return set(about.get("capabilities") or ())

    @property
    def settings_schema(self) -> dict[str, Any] | None:
        about = self.about() or {}
        settings = about.get("settings")
        return settings if isinstance(settings, dict) else None

    def secret_settings(self) -> set[str]:
        return secret_paths_from_schema(self.settings_schema)

    def catalog_flag(self) -> str:
        """``--catalog`` unless the connector only advertises the legacy ``properties``."""
        caps = self.capabilities
        if "properties" in caps and "catalog" not in caps:
            return "--properties"
        return "--catalog"

    def accepts_state(self) -> bool:
        caps = self.capabilities
        return not caps or "state" in caps


def _about(connector: Connector, *, refresh: bool = False) -> dict[str, Any] | None:
    from glue_runtime.caches import AboutCache

    cache = AboutCache()
    if not refresh:
        cached = cache.get(connector)
        if cached is not None:
            return cached
    argv = tuple(connector.argv)
    if refresh:
        _run_about.cache_clear()
    about = _run_about(argv, connector.label, connector.about_timeout_s)
    if about is not None:  # only answers: a failure or "no --about" is asked again next time
        cache.put(connector, about)
    return about


@cache
def _run_about(argv: tuple[str, ...], label: str, timeout: float | None) -> dict[str, Any] | None:
    """Its --about JSON; None if it has none. A call that hangs fails (ConnectorTimeout).

    Failing rather than carrying on without it: the settings it lists decide which values are
    secrets to redact and how the config is checked. (Errors are not cached; answers are.)
    """
    from glue_runtime.process import run_to_end
    from glue_runtime.secrets import Redactor

    try:
        code, stdout, _ = run_to_end(
            label,
            [*argv, "--about", "--format", "json"],
            what="--about",
            timeout=timeout,
            redactor=Redactor(),
            setting="timeouts: {about: SECONDS} in the flow file, or --timeout about=SECONDS",
        )
    except ConnectorError as exc:
        if isinstance(exc, ConnectorTimeout):
            raise
        return None  # it could not start: running it will say so, naming the file
    if code != 0:
        return None
    try:
        about = orjson.loads(stdout)
    except orjson.JSONDecodeError:
        return None
    return about if isinstance(about, dict) else None


def _entry_points(kind: Kind) -> dict[str, EntryPointInfo]:
    return {ep.name: ep for ep in _installed_entry_points(GROUPS[kind])}


def _from_entry_point(ep: EntryPointInfo, kind: Kind) -> Connector:
    dist = ep.dist_name or "?"
    return Connector(
        name=ep.name,
        kind=kind,
        argv=[sys.executable, "-m", "glue_runtime.launch", kind, ep.name],
        source="entry point",
        location=f"{dist} ({ep.value})",
        version=ep.dist_version,
        entry_point=ep,
    )


def _from_path(path: Path, kind: Kind, name: str) -> Connector:
    if path.is_dir():
        bins = sorted((path / "bin").glob(f"{kind}-*"))
        bins = [b for b in bins if os.access(b, os.X_OK)]
        if len(bins) != 1:
            found = ", ".join(b.name for b in bins) or "none"
            raise ConnectorNotFound(
                f"{path} is a folder but not a virtual environment with exactly one "
                f"{kind} executable in bin/ (found: {found})",
                hint=f"give the path of the executable itself, e.g. {path}/bin/{kind}-NAME",
            )
        return Connector(bins[0].name, kind, [str(bins[0])], "venv", str(path))
    if not os.access(path, os.X_OK):
        raise ConnectorNotFound(
            f"{path} exists but is not executable", hint=f"chmod +x {path}, or fix the path"
        )
    return Connector(path.name, kind, [str(path.resolve())], "path", str(path.resolve()))


def resolve(name: str, kind: Kind) -> Connector:
    """Find the tap or target called ``name``; raise ConnectorNotFound listing what exists."""
    if not name:
        raise ConfigError(f"no {kind} given")
    if os.sep in name or name.startswith(".") or Path(name).exists():
        path = Path(name).expanduser()
        if not path.exists():
            raise ConnectorNotFound(f"{kind} {name!r}: no such file or folder")
        return _from_path(path, kind, name)
    eps = _entry_points(kind)
    short = name.removeprefix(f"{kind}-")
    for candidate in (name, short):
        if candidate in eps:
            return _from_entry_point(eps[candidate], kind)
    # Only a name with the kind's prefix is looked up on PATH (see the module docstring).
    exe_name = f"{kind}-{short}"
    exe = shutil.which(exe_name)
    if exe:
        return Connector(exe_name, kind, [exe], "PATH", exe)
    known = sorted(c.name for c in available(kind))
    close = _closest(name, short, known, kind)
    hint = f"did you mean {close!r}? " if close else ""
    listing = ", ".join(known) or "none installed"
    other = shutil.which(name)
    if other:
        hint += (
            f"{other} is not a {kind}: a bare name means a registered connector or a "
            f"{kind}-NAME executable (give a path to run any program)"
        )
    else:
        hint += (
            f"install a connector package (pip install ./connectors/NAME), put a {kind}-NAME "
            "executable on PATH, or give the executable's path"
        )
    raise ConnectorNotFound(f"no {kind} called {name!r} (available {kind}s: {listing})", hint=hint)


def _closest(name: str, short: str, known: list[str], kind: str) -> str | None:
    """The known name closest to ``name`` (with or without its kind prefix), if any is close."""
    for candidate in (name, short):
        close = difflib.get_close_matches(candidate, known, n=1)
        if close:
            return close[0]
    bare = {k.removeprefix(f"{kind}-"): k for k in known}
    close = difflib.get_close_matches(short, list(bare), n=1)
    return bare[close[0]] if close else None


def available(kind: Kind | None = None) -> list[Connector]:
    """Every tap and target found through entry points and PATH."""
    found: list[Connector] = []
    kinds: list[Kind] = [kind] if kind else ["tap", "target"]
    for k in kinds:
        seen = set()
        for ep in _entry_points(k).values():
            found.append(_from_entry_point(ep, k))
            seen.add(f"{k}-{ep.name}")
        for d in os.environ.get("PATH", "").split(os.pathsep):
            if not d or not os.path.isdir(d):
                continue
            for entry in sorted(os.listdir(d)):
                if entry.startswith(f"{k}-") and entry not in seen:
                    full = os.path.join(d, entry)
                    if os.path.isfile(full) and os.access(full, os.X_OK):
                        seen.add(entry)
                        found.append(Connector(entry, k, [full], "PATH", full))
    return found


# Keywords that assert nothing in Draft 2020-12 (annotations) or that only connectors use
# ("secret"): surely_valid passes over them. Any keyword neither here nor handled below (a
# "$ref", "oneOf", "minimum"...) sends the config to jsonschema.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",  # asserts nothing without a format checker, and validate_config uses none
        "secret",
    }
)
_HANDLED = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "enum", "const"}
)
_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float | decimal.Decimal) and not isinstance(v, bool),
}


def surely_valid(schema: Any, value: Any) -> bool:
    """True only when jsonschema's Draft 2020-12 validator would find no error.

    A quick check for the usual settings schema (types, properties, required, items, string
    enums), so a valid config does not cost a jsonschema import; False means "not sure" as
    well as "invalid": validate_config then asks jsonschema, which names the errors.
    """
    if schema is True:
        return True
    if not isinstance(schema, dict):
        return False
    if any(key not in _HANDLED and key not in _ANNOTATIONS for key in schema):
        return False
    if "type" in schema and not _type_ok(schema["type"], value):
        return False
    if not _enum_ok(schema, value):
        return False
    if isinstance(value, dict):
        return _object_ok(schema, value)
    if isinstance(value, list) and "items" in schema:
        items = schema["items"]
        return isinstance(items, dict | bool) and all(surely_valid(items, v) for v in value)
    return True


def _type_ok(types: Any, value: Any) -> bool:
    names = [types] if isinstance(types, str) else types
    if not isinstance(names, list) or not names or any(n not in _TYPES for n in names):
        return False
    return any(_TYPES[name](value) for name in names)


def _enum_ok(schema: dict[str, Any], value: Any) -> bool:
    for key in ("enum", "const"):
        if key not in schema:
            continue
        allowed = schema[key] if key == "enum" else [schema[key]]
        if not isinstance(allowed, list):
            return False
        if isinstance(value, str):
            if not any(isinstance(a, str) and a == value for a in allowed):
                return False
        elif value is not None or not any(a is None for a in allowed):
            return False  # numbers, booleans, containers: jsonschema's equality decides
    return True


def _object_ok(schema: dict[str, Any], value: dict[str, Any]) -> bool:
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return False
    if any(r not in value for r in required):
        return False
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        return False
    if any(name in value and not surely_valid(sub, value[name]) for name, sub in props.items()):
        return False
    if "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        return all(surely_valid(extra, v) for name, v in value.items() if name not in props)
    return True


def validate_config(connector: Connector, config: dict[str, Any]) -> None:
    """Check a config against the connector's settings schema before a run starts.

    Errors name the setting and what was expected, never the value (it may be a secret).
    """
    schema = connector.settings_schema
    if not schema or surely_valid(schema, config):
        return
    # Slow to import (about a third of what importing singer_sdk costs): only for a config
    # the quick check cannot vouch for, which is how the errors get their names.
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in err.path) or "(top level)"
        if err.validator == "required":
            prefix = "".join(f"{p}." for p in err.path)
            for name in err.validator_value:
                if name not in (err.instance or {}):
                    problems.append(f"missing required setting {prefix + name!r}")
        elif err.validator == "type":
            expected = err.validator_value
            got = type(err.instance).__name__
            problems.append(f"setting {where!r}: expected {expected}, got {got}")
        elif err.validator == "enum":
            problems.append(f"setting {where!r}: must be one of {err.validator_value}")
        else:
            problems.append(f"setting {where!r}: fails {err.validator!r} ({err.validator_value})")
    if problems:
        raise ConfigError(
            f"{connector.label} config is invalid:\n  - " + "\n  - ".join(problems),
            hint=f"`glue connectors about {connector.name}` lists its settings",
        )


def describe(connector: Connector) -> dict[str, Any]:
    """A display dict for `connectors about`, with secrets in examples masked."""
    about = connector.about() or {}
    return {
        "name": connector.name,
        "kind": connector.kind,
        "version": connector.version or about.get("version"),
        "source": connector.source,
        "location": connector.location,
        "description": about.get("description"),
        "capabilities": sorted(connector.capabilities),
        "settings": about.get("settings") or {},
        "secret_settings": sorted(connector.secret_settings()),
    }


def about_or_fail(connector: Connector) -> dict[str, Any]:
    about = connector.about()
    if about is None:
        raise ConnectorError(
            f"{connector.label} gives no --about information",
            hint="it may not be a singer-sdk connector; it can still run, without settings checks",
        )
    return about
