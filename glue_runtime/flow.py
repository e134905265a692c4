"""Flow files: a source, its field map and ETL script, one or more targets, and where state lives.

```yaml
name: demo                      # also the default state key
source:
  connector: files              # a connector name, an executable, or a path
  config: {...}                 # inline, or config_file: tap.json (relative to this file)
field_map: fieldmap.yml         # optional: which streams and fields
mappers:                        # optional: Singer mapper executables, in order
  - connector: ./venv/bin/meltano-map-transform
    config: {...}
etl: etl.py                     # optional: the transform
targets:
  - connector: sqlite
    config: {database: output/demo.db}
state:
  dir: .glue/state              # or file: state.json; key: defaults to name
timeouts: {idle: 30m, drain: 10m} # optional: see timeouts.py (0 or null turns one off)
```

``${VAR}`` in any string reads the environment (``${VAR:-default}`` gives a default when VAR is
unset or empty, ``$$`` is a literal ``$``), so secrets need not sit in the file. What ``env:``
takes from the environment is treated as a secret: masked in logs and errors wherever it shows.
Files the flow names (``config_file``) are read as written, without expansion. Relative paths
resolve against the flow file's folder, and connectors run there.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glue_runtime.errors import ConfigError
from glue_runtime.protocol import loads_exact
from glue_runtime.timeouts import parse_timeouts

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TOP_KEYS = {
    "name",
    "description",
    "source",
    "tap",
    "field_map",
    "mappers",
    "etl",
    "targets",
    "target",
    "state",
    "env",
    "max_line_bytes",
    "full_refresh",
    "timeouts",
    "triggers",
    "tenants",
}


@dataclass
class ConnectorRef:
    """A connector named in a flow, with its config (already read and expanded)."""

    connector: str
    config: dict[str, Any] = field(default_factory=dict)
    catalog: dict[str, Any] | None = None
    validate: bool = True
    config_file: Path | None = None


@dataclass
class Flow:
    """A parsed flow file, or one built in code."""

    name: str
    source: ConnectorRef
    targets: list[ConnectorRef]
    mappers: list[ConnectorRef] = field(default_factory=list)
    base_dir: Path = field(default_factory=Path.cwd)
    field_map: Path | None = None
    etl: Path | None = None
    etl_mode: str = "stream"  # or "batch": land tap output, run the script as a process
    etl_format: str = "jsonl"  # batch: how sync-output/ is written (jsonl, csv or parquet)
    state_dir: Path | None = None
    state_file: Path | None = None
    state_key: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    env_secrets: set[str] = field(default_factory=set)  # what env: took from ${VAR}s
    max_line_bytes: int | None = None
    timeouts: dict[str, float | None] = field(default_factory=dict)  # over the defaults
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def expand_env(
    value: Any, *, where: str, env: dict[str, str] | None = None, found: set[str] | None = None
) -> Any:
    """Replace ``${VAR}`` in every string of a parsed YAML/JSON value.

    ``found`` collects the values taken from the environment (not the defaults, which are
    written in the file): they may be secrets, to be masked in logs.
    """
    environ = os.environ if env is None else env

    def sub(text: str, path: str) -> str:
        def one(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name, default = m.group(1), m.group(2)
            value = environ.get(name)
            if default is not None and not value:
                return default  # as in the shell: unset or empty takes the default
            if value is not None:
                if found is not None:
                    found.add(value)
                return value
            raise ConfigError(
                f"{where}: {path} uses ${{{name}}} but {name} is not set in the environment",
                hint=f"export {name}=... before running, or write ${{{name}:-default}}",
            )

        return _VAR.sub(one, text)

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, str):
            return sub(node, path) if "$" in node else node
        if isinstance(node, dict):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(node)]
        return node

    return walk(value, "")


def read_json_file(path: Path, what: str) -> Any:
    try:
        return loads_exact(path.read_bytes())  # numbers a float cannot hold stay exact
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except OSError as exc:  # a folder, no permission
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # orjson's JSONDecodeError, NestedTooDeep
        raise ConfigError(f"{what} {path} is not valid JSON: {exc}") from None


_CONNECTOR_KEYS = {
    "connector",
    "name",
    "executable",
    "config",
    "config_file",
    "catalog",
    "validate",
}
_STATE_KEYS = {"dir", "file", "key"}


def _check_keys(raw: dict[str, Any], known: set[str], where: str, what: str) -> None:
    """Refuse keys a part of the flow file does not know, suggesting the closest known one."""
    unknown = sorted(str(k) for k in set(raw) - known)
    if not unknown:
        return
    guesses = [
        f"{k!r} -> {close[0]!r}"
        for k in unknown
        if (close := difflib.get_close_matches(k, sorted(known), n=1, cutoff=0.6))
    ]
    hint = f"did you mean {', '.join(guesses)}? " if guesses else ""
    raise ConfigError(
        f"{where}: {what} has unknown keys {unknown}",
        hint=f"{hint}{what} knows: {', '.join(sorted(known))}",
    )


def _connector_ref(raw: Any, where: str, base: Path, role: str) -> ConnectorRef:
    if isinstance(raw, str):
        return ConnectorRef(connector=raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {role} must be a connector name or a mapping")
    name = raw.get("connector") or raw.get("name") or raw.get("executable")
    if not name:
        raise ConfigError(
            f"{where}: {role} has no 'connector'",
            hint="name a connector (`glue connectors list`) or an executable path",
        )
    _check_keys(raw, _CONNECTOR_KEYS, where, role)
    config: dict[str, Any] = {}
    cfg_path = None
    if raw.get("config_file"):
        cfg_path = base / str(raw["config_file"])
        # Used as written, like --tap-config: a password "Pa$$w0rd" stays what it is, and
        # a tap that writes refreshed credentials back into this file keeps its own values.
        loaded = read_json_file(cfg_path, f"{role} config file")
        if not isinstance(loaded, dict):
            raise ConfigError(f"{role} config file {cfg_path} must hold a JSON object")
        config.update(loaded)
    inline = raw.get("config") or {}
    if not isinstance(inline, dict):
        raise ConfigError(f"{where}: {role}.config must be a mapping")
    config.update(inline)
    catalog = None
    if raw.get("catalog"):
        catalog = read_json_file(base / str(raw["catalog"]), f"{role} catalog")
    name = str(name)
    if "/" in name and not os.path.isabs(name):
        name = str((base / name).resolve())
    return ConnectorRef(name, config, catalog, bool(raw.get("validate", True)), cfg_path)


def _targets_raw(data: dict[str, Any], where: str) -> list[Any]:
    targets_raw = data.get("targets", data.get("target"))
    if targets_raw is None:
        raise ConfigError(f"{where}: no 'targets' (where the data goes)")
    if not isinstance(targets_raw, list):
        targets_raw = [targets_raw]
    if not targets_raw:
        raise ConfigError(f"{where}: 'targets' is empty")
    return targets_raw


def _state_section(data: dict[str, Any], where: str) -> dict[str, Any]:
    """``state:``: a file path, or ``{dir, file, key}``."""
    state = data.get("state") or {}
    if isinstance(state, str):
        state = {"file": state}
    if not isinstance(state, dict):
        raise ConfigError(f"{where}: state must be a file path or {{dir, file, key}}")
    _check_keys(state, _STATE_KEYS, where, "state")
    return state


def _etl_section(etl_raw: Any, where: str) -> tuple[Any, str, str]:
    """``etl:``: a script path, or ``{script, mode, format}``; returns (script, mode, format)."""
    if not isinstance(etl_raw, dict):
        return etl_raw, "stream", "jsonl"
    _check_keys(etl_raw, {"script", "mode", "format"}, where, "etl")
    if "script" not in etl_raw:
        raise ConfigError(
            f"{where}: etl must be a script path or {{script, mode, format}}",
            hint="for example  etl: {script: etl.py, mode: batch, format: csv}",
        )
    etl_mode = str(etl_raw.get("mode", "stream"))
    etl_format = str(etl_raw.get("format", "jsonl"))
    if etl_mode not in ("stream", "batch") or etl_format not in ("jsonl", "csv", "parquet"):
        raise ConfigError(
            f"{where}: etl.mode must be stream or batch, etl.format jsonl, csv or parquet "
            f"(got {etl_mode!r}, {etl_format!r})"
        )
    return etl_raw["script"], etl_mode, etl_format


def _mappers_section(data: dict[str, Any], where: str, base_dir: Path) -> list[ConnectorRef]:
    mappers_raw = data.get("mappers") or []
    if not isinstance(mappers_raw, list):
        raise ConfigError(
            f"{where}: mappers must be a list of mapper executables",
            hint="for example  mappers: [{connector: ./venv/bin/meltano-map-transform, "
            "config: {...}}]",
        )
    mappers = [
        _connector_ref(m, where, base_dir, f"mappers[{i}]") for i, m in enumerate(mappers_raw)
    ]
    for i, m in enumerate(mappers):
        if m.catalog is not None:
            raise ConfigError(f"{where}: mappers[{i}] has a catalog; only a tap takes one")
    return mappers


def parse_flow(data: Any, *, where: str, base_dir: Path, path: Path | None = None) -> Flow:
    """Build a Flow from the parsed YAML/JSON of a flow file."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a flow file must be a mapping at the top level")
    _check_keys(data, _TOP_KEYS, where, "a flow file")
    env_secrets: set[str] = set()
    env_raw = expand_env({"env": data.get("env")}, where=where, found=env_secrets)["env"]
    data = expand_env({k: v for k, v in data.items() if k != "env"}, where=where)
    source_raw = data.get("source", data.get("tap"))
    if source_raw is None:
        raise ConfigError(f"{where}: no 'source' (the tap to read from)")
    targets_raw = _targets_raw(data, where)
    name = str(data.get("name") or (path.stem if path else "flow"))
    state = _state_section(data, where)

    def opt_path(value: Any) -> Path | None:
        return (base_dir / str(value)) if value else None

    etl_raw, etl_mode, etl_format = _etl_section(data.get("etl"), where)
    mappers = _mappers_section(data, where, base_dir)
    return Flow(
        name=name,
        source=_connector_ref(source_raw, where, base_dir, "source"),
        targets=[
            _connector_ref(t, where, base_dir, f"targets[{i}]") for i, t in enumerate(targets_raw)
        ],
        mappers=mappers,
        base_dir=base_dir,
        field_map=opt_path(data.get("field_map")),
        etl=opt_path(etl_raw),
        etl_mode=etl_mode,
        etl_format=etl_format,
        state_dir=opt_path(state.get("dir")),
        state_file=opt_path(state.get("file")),
        state_key=state.get("key"),
        env={str(k): str(v) for k, v in (env_raw or {}).items()},
        env_secrets=env_secrets,
        max_line_bytes=data.get("max_line_bytes"),
        timeouts=parse_timeouts(data.get("timeouts") or {}, where=f"{where}: timeouts"),
        path=path,
        extra={k: data[k] for k in ("triggers", "tenants", "description") if k in data},
    )


def load_flow(path: str | Path) -> Flow:
    """Read a flow file (YAML or JSON)."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"flow file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:  # a folder, no permission, not text
        raise ConfigError(f"cannot read flow file {p}: {getattr(exc, 'strerror', exc)}") from None
    import yaml  # only flow files need it: a run from options starts faster without it

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"flow file {p} is not valid YAML{at}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"flow file {p} is nested too deep to read") from None
    return parse_flow(data, where=str(p), base_dir=p.resolve().parent, path=p)
