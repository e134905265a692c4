"""Field maps: the file that says which streams and fields a sync pulls.

Two shapes are read (see docs/fieldmap.md):

- the glue field map, YAML or JSON::

      unlisted_streams: off        # off (the default) or catalog
      streams:
        orders: on                 # every field the catalog selects by default
        customers:
          fields: [id, name, address.city]
        events:
          exclude: ["*_url", payload.raw]
        people:                    # how the tap reads it: FULL_TABLE, INCREMENTAL, LOG_BASED
          replication_method: INCREMENTAL
          replication_key: updated_at
        "audit_*": off

- hotglue's ``fieldMap.json``: ``{"orders": {"name": "orders", "selected": ["id", "*"]}}``.

selection.py resolves a field map against the tap's catalog into a
:class:`~glue_runtime.selection.Selection`;
names the catalog does not have are errors (with the closest match) before any tap starts.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from glue_runtime.catalog import (
    FULL_TABLE,
    INCREMENTAL,
    Catalog,
    CatalogLike,
    CatalogStream,
    as_catalog,
    escape_glob,
    is_wildcard,
    join_path,
)
from glue_runtime.errors import ConfigError

if TYPE_CHECKING:  # applying a field map to a catalog: selection.py (imports this module)
    from glue_runtime.selection import (
        Problem,
        Selection,
        check,
        resolve,
        selector_for_run,
        with_replication,
        write_catalog_selected,
    )


SHAPE_YAML = "glue field map (YAML)"
SHAPE_JSON = "glue field map (JSON)"
SHAPE_HOTGLUE = "hotglue fieldMap.json"

UNLISTED_OFF = "off"
UNLISTED_CATALOG = "catalog"

TOP_KEYS = ("version", "unlisted_streams", "streams")
STREAM_KEYS = ("selected", "fields", "exclude", "replication_method", "replication_key")
LOG_BASED = "LOG_BASED"
REPLICATION_METHODS = (FULL_TABLE, INCREMENTAL, LOG_BASED)
# What resolving a field map against a catalog takes: re-exported from selection.py, where
# those rules live (this module reads and validates the file).
_RESOLVING = (
    "Problem",
    "check",
    "resolve",
    "selector_for_run",
    "with_replication",
    "write_catalog_selected",
)


def __getattr__(name: str) -> Any:
    if name in _RESOLVING:
        from glue_runtime import selection

        return getattr(selection, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class StreamRule:
    """One stream entry of a field map (its key may be an fnmatch pattern)."""

    pattern: str
    selected: bool = True
    fields: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    replication_method: str | None = None
    replication_key: str | None = None

    # Worked out once, when the file is read:
    wildcard: bool = field(init=False, compare=False)  # the key is an fnmatch pattern
    sets_replication: bool = field(init=False, compare=False)  # a replication method or key

    def __post_init__(self) -> None:
        object.__setattr__(self, "wildcard", is_wildcard(self.pattern))
        sets = self.replication_method is not None or self.replication_key is not None
        object.__setattr__(self, "sets_replication", sets)


@dataclass
class FieldMap:
    """A parsed field map: ordered stream rules, the default for unlisted streams, its shape."""

    rules: list[StreamRule]
    unlisted: str = UNLISTED_OFF
    shape: str = SHAPE_YAML
    source: str = "field map"

    def rule_for(self, cs: CatalogStream) -> StreamRule | None:
        """The rule that applies to a catalog stream (see ``selection.rule_for``)."""
        from glue_runtime.selection import rule_for

        return rule_for(self, cs)


# ----------------------------------------------------------------------------- reading


def load_field_map(path: str | Path) -> FieldMap:
    """Read a field map file (``.json`` as JSON, anything else as YAML)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"field map {p} does not exist",
            hint=f"write one with `glue fieldmap init --flow FLOW -o {p}` (from the flow's "
            "folder, --flow can be left out)",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"field map {p} cannot be read: {exc}") from None
    if p.suffix.lower() == ".json":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(
                f"field map {p} is not valid JSON: {exc.msg} (line {exc.lineno})"
            ) from None
        is_json = True
    else:
        import yaml  # only field map files need it: a run without one starts faster

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "syntax error"
            raise ConfigError(f"field map {p} is not valid YAML{where}: {problem}") from None
        except RecursionError:
            raise ConfigError(f"field map {p} is nested too deep to read") from None
        is_json = False
    return parse_field_map(data, source=str(p), json_file=is_json)


def parse_field_map(data: Any, *, source: str = "field map", json_file: bool = False) -> FieldMap:
    """Parse an already-loaded field map (either shape), e.g. from a UI."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: a field map is a mapping with a 'streams' key, not a {type(data).__name__}",
            hint="see docs/fieldmap.md for the format",
        )
    if _looks_like_hotglue(data):
        return _parse_hotglue(data, source)
    return _parse_glue(data, source, SHAPE_JSON if json_file else SHAPE_YAML)


def _looks_like_hotglue(data: dict[str, Any]) -> bool:
    if not data:
        return False
    streams = data.get("streams")
    if isinstance(streams, dict) and "selected" not in streams:
        return False
    return all(isinstance(v, dict) and "selected" in v for v in data.values())


def _parse_hotglue(data: dict[str, Any], source: str) -> FieldMap:
    rules: list[StreamRule] = []
    for key, entry in data.items():
        name = entry.get("name") or key
        if not isinstance(name, str):
            raise ConfigError(f"{source}: stream {key!r} has a 'name' that is not a string")
        chosen = entry["selected"]
        if chosen == "*":
            chosen = ["*"]
        if not isinstance(chosen, list) or not all(isinstance(f, str) for f in chosen):
            raise ConfigError(
                f"{source}: stream {name!r}: 'selected' must be a list of field names or \"*\"",
                hint='hotglue fieldMap.json entries look like {"name": "orders", '
                '"selected": ["id", "amount"]}',
            )
        method, rkey = _replication(entry, source, f"stream {name!r}")
        # hotglue lists only what is synced: an empty list selects nothing.
        rules.append(
            StreamRule(
                name,
                selected=bool(chosen),
                fields=tuple(chosen),
                replication_method=method,
                replication_key=rkey,
            )
        )
    return FieldMap(rules, unlisted=UNLISTED_OFF, shape=SHAPE_HOTGLUE, source=source)


def _unknown_key(source: str, where: str, key: Any, allowed: Iterable[str]) -> ConfigError:
    allowed = list(allowed)
    near = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"did you mean {near[0]!r}? " if near else ""
    return ConfigError(
        f"{source}: unknown key {key!r} {where}",
        hint=f"{hint}allowed keys: {', '.join(allowed)}",
    )


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("on", "off", "true", "false", "yes", "no"):
        return value.lower() in ("on", "true", "yes")
    return None


def _str_list(value: Any, source: str, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(
        f"{source}: {what} must be a list of field names (dotted paths, wildcards allowed)",
        hint="for example: fields: [id, customer.email, '*_at']",
    )


def _parse_glue(data: dict[str, Any], source: str, shape: str) -> FieldMap:
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown_key(source, "at the top level", key, TOP_KEYS)
    version = data.get("version", 1)
    if version != 1:
        raise ConfigError(f"{source}: version {version!r} is not supported (only 1)")
    raw_unlisted = data.get("unlisted_streams", UNLISTED_OFF)
    unlisted = UNLISTED_OFF if raw_unlisted is False else raw_unlisted
    if unlisted not in (UNLISTED_OFF, UNLISTED_CATALOG):
        raise ConfigError(
            f"{source}: unlisted_streams is {raw_unlisted!r}",
            hint="use 'off' (streams not listed are not pulled) or 'catalog' "
            "(they follow the catalog's selected-by-default)",
        )
    streams = data.get("streams") or {}
    if not isinstance(streams, dict):
        raise ConfigError(
            f"{source}: 'streams' must be a mapping of stream name to its settings",
            hint="for example:\n  streams:\n    orders: on\n    customers: {fields: [id, name]}",
        )
    rules: list[StreamRule] = []
    for name, value in streams.items():
        if not isinstance(name, str):
            raise ConfigError(
                f"{source}: stream name {name!r} is not a string",
                hint="quote stream names YAML reads as booleans or numbers, e.g. 'on': off",
            )
        rules.append(_parse_stream(name, value, source))
    return FieldMap(rules, unlisted=unlisted, shape=shape, source=source)


def _parse_stream(name: str, value: Any, source: str) -> StreamRule:
    where = f"stream {name!r}"
    if value is None:
        return StreamRule(name)
    flag = _as_bool(value)
    if flag is not None:
        return StreamRule(name, selected=flag)
    if value == "*":
        return StreamRule(name, fields=("*",))
    if isinstance(value, list):
        return StreamRule(name, fields=_str_list(value, source, f"{where}: the field list"))
    if not isinstance(value, dict):
        raise ConfigError(
            f"{source}: {where} must be on/off, a list of fields, or a mapping",
            hint="for example: orders: {fields: [id, amount]} or orders: off",
        )
    for key in value:
        if key not in STREAM_KEYS:
            raise _unknown_key(source, f"in {where}", key, STREAM_KEYS)
    selected = True
    if "selected" in value:
        flag = _as_bool(value["selected"])
        if flag is None:
            raise ConfigError(f"{source}: {where}: 'selected' must be true/false (or on/off)")
        selected = flag
    fields = None
    if value.get("fields") is not None:
        fields = _str_list(value["fields"], source, f"{where}: 'fields'")
    exclude: tuple[str, ...] = ()
    if value.get("exclude") is not None:
        exclude = _str_list(value["exclude"], source, f"{where}: 'exclude'")
    method, rkey = _replication(value, source, where)
    return StreamRule(
        name,
        selected=selected,
        fields=fields,
        exclude=exclude,
        replication_method=method,
        replication_key=rkey,
    )


def _replication(value: dict[str, Any], source: str, where: str) -> tuple[str | None, str | None]:
    """A stream entry's ``replication_method`` and ``replication_key``, checked for form.

    Whether the key exists is checked against the catalog later (:func:`check`).
    """
    method = value.get("replication_method")
    if method is not None:
        if not isinstance(method, str) or method.upper() not in REPLICATION_METHODS:
            raise ConfigError(
                f"{source}: {where}: replication_method is {method!r}",
                hint=f"use one of {', '.join(REPLICATION_METHODS)}",
            )
        method = method.upper()
    rkey = value.get("replication_key")
    if rkey is not None and (not isinstance(rkey, str) or not rkey):
        raise ConfigError(
            f"{source}: {where}: replication_key must be a field name",
            hint="for example: replication_key: updated_at",
        )
    if method == FULL_TABLE and rkey is not None:
        raise ConfigError(
            f"{source}: {where}: replication_key {rkey!r} with replication_method FULL_TABLE",
            hint="a FULL_TABLE stream is read whole every run and keeps no bookmark: drop the "
            "replication_key, or use INCREMENTAL",
        )
    return method, rkey


# ----------------------------------------------------------------------------- writing

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _yaml_str(text: str) -> str:
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)


def _field_pattern(path: tuple[str, ...]) -> str:
    return ".".join(escape_glob(p).replace(".", "\\.") for p in path)


def init_field_map(catalog: CatalogLike, *, title: str | None = None) -> str:
    """A field map listing every stream (on/off as the catalog selects it) and its fields.

    Fields off by default are listed commented out; unsupported ones are noted. Loading the
    result gives the catalog's own default selection.
    """
    from glue_runtime.selection import resolve_stream

    cat = as_catalog(catalog)
    lines = [
        f"# Field map{f' for {title}' if title else ''}: which streams and fields are pulled.",
        "# Generated from the tap's catalog by `glue fieldmap init`; edit freely.",
        "# A stream is on/off; `fields` lists what is pulled (dotted paths for nested fields,",
        "# fnmatch wildcards allowed); `exclude` lists fields to leave out. Key properties and",
        "# replication keys are always pulled. Streams not listed here are off.",
        "# See docs/fieldmap.md.",
        "version: 1",
        "unlisted_streams: off",
        "streams:" if cat.streams else "streams: {}",
    ]
    for cs in cat.streams:
        on = cs.selected and not cs.unsupported
        default = resolve_stream(cs, stream_on=True)
        lines.append(f"  {_yaml_str(escape_glob(cs.tap_stream_id))}:")
        note = ""
        if cs.unsupported:
            note = "  # unsupported by the tap"
        elif not on:
            note = "  # off by default"
        lines.append(f"    selected: {'true' if on else 'false'}{note}")
        leaves = [p for p, f in cs.fields.items() if not f.has_children]
        if not leaves:
            continue
        lines.append("    fields:")
        for p in leaves:
            name = _yaml_str(_field_pattern(p))
            if p in default.unsupported:
                lines.append(f"      # {name}  (unsupported by the tap)")
            elif default.fields.get(p):
                why = default.always.get(p)
                lines.append(f"      - {name}" + (f"  # always pulled: {why}" if why else ""))
            else:
                lines.append(f"      # - {name}  (off by default: uncomment to pull)")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- showing


def _join(items: list[str], width: int = 96) -> list[str]:
    """Comma-joined items wrapped to lines of about ``width`` characters."""
    out: list[str] = []
    cur = ""
    for item in items:
        piece = item if not cur else f", {item}"
        if cur and len(cur) + len(piece) > width:
            out.append(cur + ",")
            cur = item
        else:
            cur += piece
    if cur or not out:
        out.append(cur or "-")
    return out


def render_table(selection: Selection) -> str:
    """The resolved selection as text: a summary table, then each selected stream's fields."""
    lines = [
        f"Field map: {selection.source} (read as: {selection.shape}); "
        f"unlisted streams: {selection.unlisted}",
        "",
    ]
    rows = [("STREAM", "ON", "PULLED", "IGNORED", "WHY")]
    for sid, s in selection.streams.items():
        leaves = s.leaves()
        pulled = sum(1 for p in leaves if s.fields[p])
        ignored = len(leaves) - pulled
        rows.append(
            (
                sid,
                "on" if s.selected else "off",
                str(pulled) if s.selected else "-",
                str(ignored) if s.selected else "-",
                s.reason,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        )
    for sid, s in selection.streams.items():
        if not s.selected:
            continue
        lines.append("")
        lines.append(f"{sid}  (on: {s.reason})")
        if s.replication_method:
            by = f" by {s.replication_key}" if s.replication_key else ""
            lines.append(f"  {'replication:':<13}{s.replication_method}{by}")
        always = [f"{join_path(p)} ({why})" for p, why in s.always.items()]
        for label, items in (
            ("pulled", s.pulled),
            ("ignored", s.ignored),
            ("always", always),
            ("unsupported", sorted(join_path(p) for p in s.unsupported)),
        ):
            if label == "unsupported" and not items:
                continue
            wrapped = _join(items)
            lines.append(f"  {label + ':':<13}{wrapped[0]}")
            lines.extend(f"  {'':<13}{w}" for w in wrapped[1:])
    if selection.warnings:
        lines.append("")
        lines.extend(selection.warnings)
    return "\n".join(lines) + "\n"


__all__ = [
    "SHAPE_HOTGLUE",
    "SHAPE_JSON",
    "SHAPE_YAML",
    "Catalog",
    "FieldMap",
    "Problem",
    "StreamRule",
    "check",
    "init_field_map",
    "load_field_map",
    "parse_field_map",
    "render_table",
    "resolve",
    "selector_for_run",
    "with_replication",
    "write_catalog_selected",
]
