"""The Singer catalog: its streams, fields and metadata, and what that metadata selects.

What the catalog's own metadata selects follows singer-sdk's
``MetadataMapping._breadcrumb_is_selected`` so a tap built on the SDK and glue_runtime's
selector agree on what a catalog means:

1. a stream with no metadata at all: everything is selected;
2. a field whose parent is unselected is unselected;
3. ``inclusion: unsupported`` is never selected (a ``selected: true`` is ignored);
4. ``inclusion: automatic`` is always selected (a ``selected: false`` is ignored);
5. otherwise ``selected``, then ``selected-by-default``, then the parent's value.

One extension: a field inside an array of objects has the breadcrumb
``("properties", "lines", "items", "properties", "sku")``; its parent is the array field
``("properties", "lines")`` (the SDK does not descend into arrays at all).

On top of that, a selection always keeps key properties and the replication key of a
selected stream, whatever the metadata says (:meth:`CatalogStream.always_reason`): a target
cannot upsert without its keys and the tap cannot bookmark without its replication key.

A field map applied to a catalog, and the resulting ``Selection``, are in selection.py (its
names are still importable from here).
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from glue_runtime.errors import ConfigError
from glue_runtime.protocol import dumps_exact, loads_exact

Breadcrumb = tuple[str, ...]
FieldPath = tuple[str, ...]

AUTOMATIC = "automatic"
AVAILABLE = "available"
UNSUPPORTED = "unsupported"

FULL_TABLE = "FULL_TABLE"
INCREMENTAL = "INCREMENTAL"

WILDCARD_CHARS = frozenset("*?[")

if TYPE_CHECKING:  # the selection rules and their results: selection.py (imports this module)
    from glue_runtime.selection import (
        FieldPatterns as FieldPatterns,
    )
    from glue_runtime.selection import (
        Selection as Selection,
    )
    from glue_runtime.selection import (
        StreamSelection as StreamSelection,
    )
    from glue_runtime.selection import (
        apply_selection as apply_selection,
    )
    from glue_runtime.selection import (
        resolve_stream as resolve_stream,
    )
    from glue_runtime.selection import (
        selection_from_catalog as selection_from_catalog,
    )

_MOVED_TO_SELECTION = (
    "FieldPatterns",
    "Selection",
    "StreamSelection",
    "apply_selection",
    "resolve_stream",
    "selection_from_catalog",
)


def __getattr__(name: str) -> Any:
    """The selection rules' names, still importable from here."""
    if name in _MOVED_TO_SELECTION:
        from glue_runtime import selection

        return getattr(selection, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------- paths


def split_path(text: str) -> FieldPath:
    """``"a.b.c"`` -> ``("a", "b", "c")``; ``\\.`` is a dot inside a name."""
    parts: list[str] = []
    cur: list[str] = []
    it = iter(text)
    for ch in it:
        if ch == "\\":
            nxt = next(it, "")
            cur.append(nxt if nxt == "." else ch + nxt)
        elif ch == ".":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return tuple(parts)


def join_path(path: FieldPath) -> str:
    """The dotted form of a field path, escaping dots inside names."""
    return ".".join(p.replace(".", "\\.") for p in path)


def is_wildcard(text: str) -> bool:
    return any(ch in WILDCARD_CHARS for ch in text)


def escape_glob(name: str) -> str:
    """A name as a pattern that matches only itself (for names holding ``*``, ``?`` or ``[``)."""
    return "".join(f"[{ch}]" if ch in WILDCARD_CHARS else ch for ch in name)


def _has_properties(schema: Any) -> bool:
    return isinstance(schema, dict) and isinstance(schema.get("properties"), dict)


def _array_items(schema: Any) -> dict[str, Any] | None:
    """The object schema of an array's items, when the field is an array of objects."""
    if not isinstance(schema, dict):
        return None
    items = schema.get("items")
    return items if _has_properties(items) else None


# ----------------------------------------------------------------------------- catalog


@dataclass(frozen=True)
class Field:
    """One field of a stream: its path, breadcrumb and JSON schema."""

    path: FieldPath
    breadcrumb: Breadcrumb
    schema: dict[str, Any]
    has_children: bool

    name: str = field(init=False, repr=False, compare=False)  # the dotted path

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", join_path(self.path))


def iter_fields(schema: dict[str, Any]) -> Iterator[Field]:
    """Every field of a JSON schema, parents before children, through objects and arrays."""

    def walk(props: dict[str, Any], path: FieldPath, crumb: Breadcrumb) -> Iterator[Field]:
        for name, sub in props.items():
            fpath = (*path, name)
            fcrumb = (*crumb, "properties", name)
            if _has_properties(sub):
                yield Field(fpath, fcrumb, sub, bool(sub["properties"]))
                yield from walk(sub["properties"], fpath, fcrumb)
            elif (items := _array_items(sub)) is not None:
                yield Field(fpath, fcrumb, sub, bool(items["properties"]))
                yield from walk(items["properties"], fpath, (*fcrumb, "items"))
            else:
                yield Field(fpath, fcrumb, sub if isinstance(sub, dict) else {}, False)

    if _has_properties(schema):
        yield from walk(schema["properties"], (), ())


def parent_breadcrumb(breadcrumb: Breadcrumb) -> Breadcrumb:
    """The SDK's parent (``[:-2]``), except that array items' fields belong to the array."""
    if len(breadcrumb) >= 3 and breadcrumb[-3] == "items" and breadcrumb[-2] == "properties":
        return breadcrumb[:-3]
    return breadcrumb[:-2]


class CatalogStream:
    """One catalog entry, read leniently (taps write catalogs in many dialects)."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.raw = entry
        tap_stream_id = entry.get("tap_stream_id") or entry.get("stream")
        if not isinstance(tap_stream_id, str) or not tap_stream_id:
            raise ConfigError(
                "a catalog stream has neither 'tap_stream_id' nor 'stream'",
                hint="every entry of the catalog's 'streams' list needs a 'tap_stream_id'",
            )
        self.tap_stream_id: str = tap_stream_id
        self.stream: str = entry.get("stream") or tap_stream_id
        schema = entry.get("schema")
        self.schema: dict[str, Any] = schema if isinstance(schema, dict) else {}
        self.metadata: dict[Breadcrumb, dict[str, Any]] = {}
        for item in entry.get("metadata") or []:
            if isinstance(item, dict) and isinstance(item.get("metadata"), dict):
                self.metadata[tuple(item.get("breadcrumb") or ())] = item["metadata"]
        root = self.metadata.get((), {})
        self.root_metadata: dict[str, Any] = root
        keys = entry.get("key_properties")
        if keys is None:
            keys = root.get("table-key-properties") or root.get("view-key-properties")
        self.key_properties: list[str] = list(keys or [])
        self.valid_replication_keys: list[str] = list(root.get("valid-replication-keys") or [])
        rkey = entry.get("replication_key") or root.get("replication-key")
        explicit_method = entry.get("replication_method") or root.get("replication-method")
        if not rkey and len(self.valid_replication_keys) == 1 and explicit_method != FULL_TABLE:
            rkey = self.valid_replication_keys[0]
        self.replication_key: str | None = rkey or None
        self.forced_replication_method: str | None = root.get("forced-replication-method")
        self.replication_method: str = (
            entry.get("replication_method")
            or root.get("replication-method")
            or self.forced_replication_method
            or (INCREMENTAL if self.replication_key else FULL_TABLE)
        )
        self.fields: dict[FieldPath, Field] = {f.path: f for f in iter_fields(self.schema)}
        self.unsupported: bool = root.get("inclusion") == UNSUPPORTED  # never pulled
        self._selected_cache: dict[Breadcrumb, bool] = {}

    def __repr__(self) -> str:
        return f"CatalogStream({self.tap_stream_id!r}, {len(self.fields)} fields)"

    def md(self, breadcrumb: Breadcrumb) -> dict[str, Any]:
        return self.metadata.get(breadcrumb, {})

    def inclusion(self, breadcrumb: Breadcrumb = ()) -> str | None:
        return self.md(breadcrumb).get("inclusion")

    def is_selected(self, breadcrumb: Breadcrumb = ()) -> bool:
        """Whether the catalog's own metadata selects a stream (``()``) or field (SDK rules)."""
        cached = self._selected_cache.get(breadcrumb)
        if cached is None:
            cached = self._selected_cache[breadcrumb] = self._resolve(breadcrumb)
        return cached

    def _resolve(self, breadcrumb: Breadcrumb) -> bool:
        if not self.metadata:
            return True
        md = self.metadata.get(breadcrumb, {})
        parent: bool | None = None
        if breadcrumb:
            parent = self.is_selected(parent_breadcrumb(breadcrumb))
            if parent is False:
                return False
        inclusion = md.get("inclusion")
        if inclusion == UNSUPPORTED:
            return False
        if inclusion == AUTOMATIC:
            return True
        if md.get("selected") is not None:
            return bool(md["selected"])
        if md.get("selected-by-default") is not None:
            return bool(md["selected-by-default"])
        return parent or False

    @property
    def selected(self) -> bool:
        return self.is_selected(())

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields.values()]

    def always_reason(self, path: FieldPath) -> str | None:
        """Why a field is always pulled when its stream is, or None."""
        if len(path) == 1:
            if path[0] in self.key_properties:
                return "key property"
            if path[0] == self.replication_key:
                return "replication key"
        f = self.fields.get(path)
        if f is not None and self.inclusion(f.breadcrumb) == AUTOMATIC:
            return "automatic"
        return None


class Catalog:
    """A Singer catalog: ``{"streams": [...]}``, in the tap's order."""

    def __init__(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("streams"), list):
            raise ConfigError(
                "the catalog is not a JSON object with a 'streams' list",
                hint="run `python -m glue_runtime discover` to get the tap's catalog",
            )
        self.raw = data
        self.streams: list[CatalogStream] = [
            CatalogStream(e) for e in data["streams"] if isinstance(e, dict)
        ]
        self.names: list[str] = [s.tap_stream_id for s in self.streams]
        self._by_id = {s.tap_stream_id: s for s in self.streams}
        self._by_name: dict[str, CatalogStream] = {}
        for s in self.streams:
            self._by_name.setdefault(s.stream, s)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalog:
        return cls(data)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.raw)

    def get(self, name: str) -> CatalogStream | None:
        """A stream by ``tap_stream_id``, else by ``stream`` name."""
        return self._by_id.get(name) or self._by_name.get(name)

    def __iter__(self) -> Iterator[CatalogStream]:
        return iter(self.streams)

    def __len__(self) -> int:
        return len(self.streams)


CatalogLike = Catalog | dict[str, Any]


def as_catalog(value: CatalogLike) -> Catalog:
    return value if isinstance(value, Catalog) else Catalog(value)


def load_catalog(path: str | Path) -> Catalog:
    """Read a catalog JSON file; errors name the file."""
    p = Path(path)
    try:
        data = loads_exact(p.read_bytes())  # numbers exact, as the tap wrote them
    except FileNotFoundError:
        raise ConfigError(
            f"catalog file {p} does not exist",
            hint="run `python -m glue_runtime discover SOURCE --output FILE` to write one",
        ) from None
    except OSError as exc:  # a folder, no permission
        raise ConfigError(f"cannot read catalog file {p}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"catalog file {p} is not valid JSON ({exc.msg})") from None
    except ValueError as exc:  # NestedTooDeep
        raise ConfigError(f"catalog file {p} is not valid JSON ({exc})") from None
    try:
        return Catalog(data)
    except ConfigError as exc:
        raise ConfigError(f"catalog file {p}: {exc.message}", hint=exc.hint) from None


def dump_catalog(catalog: CatalogLike) -> bytes:
    data = catalog.raw if isinstance(catalog, Catalog) else catalog
    return dumps_exact(data, orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


# ----------------------------------------------------------------------------- patterns


@lru_cache(maxsize=4096)
def _seg_match(pattern: str, name: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern)


def path_matches(pattern: FieldPath, path: FieldPath) -> bool:
    """Segment by segment fnmatch: ``*_url`` matches ``photo_url`` but not ``owner.photo_url``."""
    return len(pattern) == len(path) and all(
        _seg_match(p, n) for p, n in zip(pattern, path, strict=True)
    )
