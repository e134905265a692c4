"""The Singer catalog, its metadata, and which streams and fields are selected.

Selection follows singer-sdk's ``MetadataMapping._breadcrumb_is_selected`` so a tap built on
the SDK and glue_runtime's selector agree on what a catalog means:

1. a stream with no metadata at all: everything is selected;
2. a field whose parent is unselected is unselected;
3. ``inclusion: unsupported`` is never selected (a ``selected: true`` is ignored);
4. ``inclusion: automatic`` is always selected (a ``selected: false`` is ignored);
5. otherwise ``selected``, then ``selected-by-default``, then the parent's value.

One extension: a field inside an array of objects has the breadcrumb
``("properties", "lines", "items", "properties", "sku")``; its parent is the array field
``("properties", "lines")`` (the SDK does not descend into arrays at all).

On top of that, a :class:`Selection` always keeps key properties and the replication key of a
selected stream, whatever the metadata says: a target cannot upsert without its keys and the
tap cannot bookmark without its replication key.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

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

    @property
    def name(self) -> str:
        return join_path(self.path)


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

    @property
    def unsupported(self) -> bool:
        return self.inclusion(()) == UNSUPPORTED

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

    @property
    def names(self) -> list[str]:
        return [s.tap_stream_id for s in self.streams]

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


@dataclass(frozen=True)
class FieldPatterns:
    """A stream's field rules from a field map: ``fields`` to pull (None: all) and ``exclude``.

    A field is pulled when a ``fields`` pattern matches it or one of its ancestors (a whole
    object), or one of its descendants (it is then the container of what was asked for, and its
    other children are not pulled). ``exclude`` matching it or an ancestor wins over ``fields``.
    """

    include: tuple[FieldPath, ...] | None
    exclude: tuple[FieldPath, ...] = ()

    @classmethod
    def parse(cls, include: Iterable[str] | None, exclude: Iterable[str] = ()) -> FieldPatterns:
        inc = None if include is None else tuple(split_path(p) for p in include)
        return cls(inc, tuple(split_path(p) for p in exclude))

    def decide(self, path: FieldPath) -> bool | None:
        """True/False when the patterns decide a field, None to leave it to the catalog."""
        for pat in self.exclude:
            if len(pat) <= len(path) and path_matches(pat, path[: len(pat)]):
                return False
        if self.include is None:
            return None
        n = len(path)
        for pat in self.include:
            m = len(pat)
            if (m <= n and path_matches(pat, path[:m])) or (m > n and path_matches(pat[:n], path)):
                return True
        return False


# ----------------------------------------------------------------------------- selection


@dataclass
class StreamSelection:
    """What is pulled from one stream, and why."""

    tap_stream_id: str
    stream: str
    selected: bool
    reason: str
    fields: dict[FieldPath, bool] = field(default_factory=dict)
    always: dict[FieldPath, str] = field(default_factory=dict)
    unsupported: set[FieldPath] = field(default_factory=set)
    key_properties: list[str] = field(default_factory=list)
    replication_key: str | None = None
    replication_method: str | None = None
    patterns: FieldPatterns | None = None

    def field_selected(self, path: FieldPath) -> bool:
        """Whether a field is pulled; fields the catalog lacks follow the field map's patterns."""
        if not self.selected:
            return False
        known = self.fields.get(path)
        if known is not None:
            return known
        if len(path) == 1 and (path[0] in self.key_properties or path[0] == self.replication_key):
            return True
        parent = self.field_selected(path[:-1]) if len(path) > 1 else True
        if not parent:
            return False
        if self.patterns is None:
            return parent
        decided = self.patterns.decide(path)
        return parent if decided is None else decided

    def _children(self) -> dict[FieldPath, list[FieldPath]]:
        kids: dict[FieldPath, list[FieldPath]] = {}
        for p in self.fields:
            kids.setdefault(p[:-1], []).append(p)
        return kids

    def _compact(self, want: bool) -> list[str]:
        """Top-most fields with the wanted state whose whole subtree shares it."""
        kids = self._children()
        out: list[str] = []

        def uniform(p: FieldPath) -> bool:
            return self.fields[p] == want and all(uniform(c) for c in kids.get(p, []))

        def walk(parent: FieldPath) -> None:
            for p in kids.get(parent, []):
                if uniform(p):
                    out.append(join_path(p))
                elif self.fields[p] or not want:
                    walk(p)

        walk(())
        return out

    def leaves(self) -> list[FieldPath]:
        """Fields without sub-fields (what a count of fields should count)."""
        parents = {p[:-1] for p in self.fields}
        return [p for p in self.fields if p not in parents]

    @property
    def pulled(self) -> list[str]:
        """Fields pulled (a whole object is shown once), always-included ones too."""
        return self._compact(True) if self.selected else []

    @property
    def ignored(self) -> list[str]:
        """Fields not pulled (the top of each ignored subtree)."""
        if not self.selected:
            return []
        kids = self._children()
        out: list[str] = []

        def walk(parent: FieldPath) -> None:
            for p in kids.get(parent, []):
                if not self.fields[p]:
                    out.append(join_path(p))
                else:
                    walk(p)

        walk(())
        return out


@dataclass
class Selection:
    """The resolved selection for a whole catalog."""

    streams: dict[str, StreamSelection]
    shape: str = "catalog"
    source: str = "the catalog's metadata"
    unlisted: str = "catalog"
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_name: dict[str, StreamSelection] = {}
        for s in self.streams.values():
            self._by_name.setdefault(s.stream, s)

    def for_stream(self, name: str) -> StreamSelection | None:
        """By ``tap_stream_id``, else by ``stream`` name (the name taps put in messages)."""
        return self.streams.get(name) or self._by_name.get(name)

    @property
    def selected_streams(self) -> list[str]:
        return [k for k, s in self.streams.items() if s.selected]


def resolve_stream(
    cs: CatalogStream,
    *,
    stream_on: bool | None = None,
    patterns: FieldPatterns | None = None,
    reason: str = "",
) -> StreamSelection:
    """Resolve one stream: the stream switch (None: the catalog's), then every field.

    Fields follow the SDK rules with the field map's decision (when it makes one) standing in
    for ``selected``; key properties, the replication key and ``automatic`` fields are kept.
    """
    selected = cs.selected if stream_on is None else bool(stream_on)
    if cs.unsupported:
        selected = False
        reason = "unsupported by the tap"
    if not reason:
        md = cs.root_metadata
        if not cs.metadata:
            reason = "catalog: no metadata"
        elif md.get("selected") is not None and cs.inclusion() != AUTOMATIC:
            reason = "catalog: selected" if md["selected"] else "catalog: deselected"
        elif md.get("selected-by-default") is not None:
            reason = f"catalog: selected-by-default {str(md['selected-by-default']).lower()}"
        else:
            reason = "catalog"
    out = StreamSelection(
        tap_stream_id=cs.tap_stream_id,
        stream=cs.stream,
        selected=selected,
        reason=reason,
        key_properties=list(cs.key_properties),
        replication_key=cs.replication_key,
        replication_method=cs.replication_method,
        patterns=patterns,
    )
    for path, f in cs.fields.items():
        inclusion = cs.inclusion(f.breadcrumb)
        if inclusion == UNSUPPORTED:
            out.unsupported.add(path)
        if not selected:
            out.fields[path] = False
            continue
        parent = out.fields[path[:-1]] if len(path) > 1 else True
        if not parent or inclusion == UNSUPPORTED:
            out.fields[path] = False
            continue
        why = cs.always_reason(path)
        if why is not None:
            out.always[path] = why
            out.fields[path] = True
            continue
        decided = patterns.decide(path) if patterns is not None else None
        if decided is None:
            md = cs.md(f.breadcrumb) if cs.metadata else {}
            if md.get("selected") is not None:
                decided = bool(md["selected"])
            elif md.get("selected-by-default") is not None:
                decided = bool(md["selected-by-default"])
            else:
                decided = parent
        out.fields[path] = decided
    return out


def selection_from_catalog(catalog: CatalogLike) -> Selection:
    """The selection a catalog's own metadata makes (no field map), SDK rules."""
    cat = as_catalog(catalog)
    return Selection({cs.tap_stream_id: resolve_stream(cs) for cs in cat.streams})


def apply_selection(catalog: CatalogLike, selection: Selection) -> dict[str, Any]:
    """A new catalog dict for the tap, carrying the selection.

    Written as breadcrumb metadata (``selected`` on the stream and every field; a field the
    metadata lacked gets an entry; ``replication-method`` and ``replication-key`` on the
    stream) and as the top-level keys singer-sdk taps read (``selected``,
    ``replication_method``, ``replication_key``, ``key_properties``).
    ``selected: true`` is never written on an ``unsupported`` node. Streams absent from the
    selection are deselected.
    """
    cat = as_catalog(catalog)
    out = copy.deepcopy(cat.raw)
    entries = [e for e in out["streams"] if isinstance(e, dict)]
    for cs, entry in zip(cat.streams, entries, strict=True):
        sel = selection.streams.get(cs.tap_stream_id)
        stream_on = bool(sel and sel.selected) and not cs.unsupported
        items: list[dict[str, Any]] = [
            m for m in entry.get("metadata") or [] if isinstance(m, dict)
        ]
        by_crumb: dict[Breadcrumb, dict[str, Any]] = {}
        for m in items:
            if not isinstance(m.get("metadata"), dict):
                m["metadata"] = {}
            by_crumb[tuple(m.get("breadcrumb") or ())] = m["metadata"]

        def put(crumb: Breadcrumb, value: bool, _by=by_crumb, _items=items) -> None:
            md = _by.get(crumb)
            if md is None:
                md = _by[crumb] = {}
                _items.append({"breadcrumb": list(crumb), "metadata": md})
            if md.get("inclusion") != UNSUPPORTED:
                md["selected"] = value
            elif md.get("selected"):
                md["selected"] = False

        put((), stream_on)
        root = by_crumb[()]
        if cs.key_properties and "table-key-properties" not in root:
            root["table-key-properties"] = list(cs.key_properties)
        for path, f in cs.fields.items():
            put(f.breadcrumb, bool(stream_on and sel is not None and sel.fields.get(path)))
        # the root entry first, as taps and people expect
        items.sort(key=lambda m: len(m.get("breadcrumb") or ()) > 0)
        entry["metadata"] = items
        entry["selected"] = stream_on
        entry["key_properties"] = list(cs.key_properties)
        method = (sel.replication_method if sel else None) or cs.replication_method
        # Both places, as the design asks: singer-sdk taps read the top-level keys, others
        # (pipelinewise's, for one) the stream's [] metadata.
        entry["replication_method"] = root["replication-method"] = method
        if cs.replication_key:
            entry["replication_key"] = root["replication-key"] = cs.replication_key
    return out
