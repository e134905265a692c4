"""Which streams and fields a sync pulls: a field map (or none) applied to the tap's catalog.

Every selection rule lives here, in the order they apply:

1. the catalog's own metadata, as singer-sdk reads it (``CatalogStream.is_selected``);
2. a field map's stream rules: an exact name wins, else the last matching wildcard; streams
   it does not list follow ``unlisted_streams`` (:func:`rule_for`, :func:`resolve`);
3. its field patterns: ``exclude`` over ``fields``, a whole object or a container of what was
   asked for (:class:`FieldPatterns`), in place of the metadata's ``selected``;
4. key properties, the replication key and ``automatic`` fields always pulled
   (``CatalogStream.always_reason``), ``unsupported`` never;
5. the field map's replication settings written into the catalog (:func:`with_replication`),
   and the selection written into the catalog the tap gets (:func:`apply_selection`).

Names the catalog does not have are errors with the closest match (:func:`check`), raised by
:func:`resolve` before any tap starts. fieldmap.py reads and validates the file itself.
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glue_runtime.catalog import (
    AUTOMATIC,
    FULL_TABLE,
    INCREMENTAL,
    UNSUPPORTED,
    Breadcrumb,
    Catalog,
    CatalogLike,
    CatalogStream,
    FieldPath,
    as_catalog,
    is_wildcard,
    join_path,
    path_matches,
    split_path,
)
from glue_runtime.errors import ConfigError
from glue_runtime.fieldmap import (
    UNLISTED_CATALOG,
    UNLISTED_OFF,
    FieldMap,
    StreamRule,
    load_field_map,
)

if TYPE_CHECKING:
    from glue_runtime.stages import Stage

log = logging.getLogger("glue_runtime.fieldmap")

MAX_LISTED = 25


# ----------------------------------------------------------------------------- field patterns


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
    out = StreamSelection(
        tap_stream_id=cs.tap_stream_id,
        stream=cs.stream,
        selected=selected,
        reason=reason or _catalog_reason(cs),
        key_properties=list(cs.key_properties),
        replication_key=cs.replication_key,
        replication_method=cs.replication_method,
        patterns=patterns,
    )
    for path, f in cs.fields.items():
        inclusion = cs.inclusion(f.breadcrumb)
        if inclusion == UNSUPPORTED:
            out.unsupported.add(path)
        parent = out.fields[path[:-1]] if len(path) > 1 else True
        if not selected or not parent or inclusion == UNSUPPORTED:
            out.fields[path] = False
            continue
        why = cs.always_reason(path)
        if why is not None:
            out.always[path] = why
            out.fields[path] = True
            continue
        decided = patterns.decide(path) if patterns is not None else None
        out.fields[path] = _metadata_choice(cs, f.breadcrumb) if decided is None else decided
    return out


def _catalog_reason(cs: CatalogStream) -> str:
    """Why the catalog's own metadata selects a stream or not, as `fieldmap show` prints it."""
    md = cs.root_metadata
    if not cs.metadata:
        return "catalog: no metadata"
    if md.get("selected") is not None and cs.inclusion() != AUTOMATIC:
        return "catalog: selected" if md["selected"] else "catalog: deselected"
    if md.get("selected-by-default") is not None:
        return f"catalog: selected-by-default {str(md['selected-by-default']).lower()}"
    return "catalog"


def _metadata_choice(cs: CatalogStream, breadcrumb: Breadcrumb) -> bool:
    """A field of a selected parent that no pattern decides: ``selected``, else
    ``selected-by-default``, else pulled (as its parent is)."""
    md = cs.md(breadcrumb) if cs.metadata else {}
    if md.get("selected") is not None:
        return bool(md["selected"])
    if md.get("selected-by-default") is not None:
        return bool(md["selected-by-default"])
    return True


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

        def put(
            crumb: Breadcrumb,
            value: bool,
            _by: dict[Breadcrumb, dict[str, Any]] = by_crumb,
            _items: list[dict[str, Any]] = items,
        ) -> None:
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


# ----------------------------------------------------------------------------- field map rules


def rule_matches(rule: StreamRule, cs: CatalogStream) -> bool:
    """A stream rule's key names the stream (id or name), or matches it as an fnmatch pattern."""
    if not rule.wildcard:
        return rule.pattern in (cs.tap_stream_id, cs.stream)
    return fnmatch.fnmatchcase(cs.tap_stream_id, rule.pattern) or fnmatch.fnmatchcase(
        cs.stream, rule.pattern
    )


def rule_for(field_map: FieldMap, cs: CatalogStream) -> StreamRule | None:
    """An exact name wins; otherwise the last matching wildcard (later lines override)."""
    found = None
    for rule in field_map.rules:
        if rule_matches(rule, cs):
            if not rule.wildcard:
                return rule
            found = rule
    return found


def rule_patterns(rule: StreamRule) -> FieldPatterns | None:
    """The field patterns of a stream rule; None when it names no fields (the catalog decides)."""
    if rule.fields is None and not rule.exclude:
        return None
    return FieldPatterns.parse(rule.fields, rule.exclude)


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`check`: ``level`` is ``error`` or ``warning``."""

    level: str
    message: str
    hint: str | None = None
    stream: str | None = None

    def __str__(self) -> str:
        text = f"{self.level}: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


# ----------------------------------------------------------------------------- checking


def _closest(name: str, choices: list[str]) -> str:
    near = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" Did you mean {near[0]!r}?" if near else ""


def _listing(what: str, names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED]) or "(none)"
    more = f" ... and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return f"{what} ({len(names)}): {shown}{more}"


def _any_field_matches(pattern: str, cs: CatalogStream) -> bool:
    pat = split_path(pattern)
    return any(path_matches(pat, p) for p in cs.fields)


def _check_fields(fm: FieldMap, rule: StreamRule, cs: CatalogStream) -> list[Problem]:
    out: list[Problem] = []
    sid = cs.tap_stream_id
    names = cs.field_names()
    for kind, patterns in (("fields", rule.fields or ()), ("exclude", rule.exclude)):
        for pattern in patterns:
            if is_wildcard(pattern):
                if not _any_field_matches(pattern, cs):
                    out.append(
                        Problem(
                            "warning",
                            f"{fm.source}: stream {sid!r}: {kind} pattern {pattern!r} "
                            "matches no field",
                            hint=_listing(f"fields of {sid}", names),
                            stream=sid,
                        )
                    )
                continue
            path = split_path(pattern)
            if path not in cs.fields:
                out.append(
                    Problem(
                        "error",
                        f"{fm.source}: stream {sid!r} has no field {pattern!r} in the tap's "
                        "catalog (misspelled, or removed at the source)."
                        + _closest(pattern, names),
                        hint=_listing(f"fields of {sid}", names),
                        stream=sid,
                    )
                )
                continue
            if kind == "fields" and rule.selected:
                bad = next(
                    (path[:i] for i in range(1, len(path) + 1) if path[:i] in _unsupported(cs)),
                    None,
                )
                if bad is not None:
                    out.append(
                        Problem(
                            "error",
                            f"{fm.source}: stream {sid!r}: field {join_path(bad)!r} is "
                            "unsupported by the tap (inclusion: unsupported) and can never "
                            "be pulled",
                            hint=f"remove {pattern!r} from the fields of {sid!r}",
                            stream=sid,
                        )
                    )
            if kind == "exclude" and (why := cs.always_reason(path)):
                out.append(
                    Problem(
                        "warning",
                        f"{fm.source}: stream {sid!r}: {pattern!r} is a {why} and is always "
                        "pulled; excluding it has no effect",
                        stream=sid,
                    )
                )
    if rule.selected and rule.fields is not None:
        covered = FieldPatterns.parse(rule.fields, rule.exclude)
        loose = [
            f.name
            for p, f in cs.fields.items()
            if not f.has_children
            and cs.always_reason(p) is None
            and p not in _unsupported(cs)
            and not _covered(covered, p)
        ]
        if loose:
            out.append(
                Problem(
                    "warning",
                    f"{fm.source}: stream {sid!r}: "
                    + _listing("catalog fields the field map does not mention (not pulled)", loose),
                    hint="new at the source? list them under 'fields' to pull them, or under "
                    "'exclude' to silence this",
                    stream=sid,
                )
            )
    return out


def _check_replication(fm: FieldMap, rule: StreamRule, cs: CatalogStream) -> list[Problem]:
    """The replication settings a field map gives a stream, against the tap's catalog."""
    sid = cs.tap_stream_id
    method = rule.replication_method or INCREMENTAL
    forced = cs.forced_replication_method
    if forced and forced != method:
        return [
            Problem(
                "error",
                f"{fm.source}: stream {sid!r}: replication_method {method} is not possible, "
                f"the tap forces {forced} for it",
                hint=f"remove the replication settings of {sid!r}, or set {forced}",
                stream=sid,
            )
        ]
    rkey = rule.replication_key
    valid = cs.valid_replication_keys
    if valid:
        choices, what = valid, f"valid replication keys of {sid} (from the tap's catalog)"
    else:  # the tap leaves the choice to the user (SQL taps do): any top-level field
        choices = [p[0] for p in cs.fields if len(p) == 1]
        what = f"fields of {sid} (the tap's catalog lists no valid replication keys)"
    if rkey is None:
        if method == INCREMENTAL and not cs.replication_key:
            return [
                Problem(
                    "error",
                    f"{fm.source}: stream {sid!r}: replication_method INCREMENTAL needs a "
                    "replication_key, and the tap's catalog has none for it",
                    hint=_listing(what, choices),
                    stream=sid,
                )
            ]
        return []
    if rkey not in choices:
        return [
            Problem(
                "error",
                f"{fm.source}: stream {sid!r}: replication_key {rkey!r} is not "
                + ("a valid replication key" if valid else "a field")
                + " of the stream in the tap's catalog."
                + _closest(rkey, choices),
                hint=_listing(what, choices),
                stream=sid,
            )
        ]
    return []


def with_replication(catalog: CatalogLike, field_map: FieldMap) -> Catalog:
    """The catalog with the field map's replication settings written into its streams.

    Both as the stream's breadcrumb ``[]`` metadata (``replication-method``,
    ``replication-key``) and as the top-level keys singer-sdk taps read (``replication_method``,
    ``replication_key``). FULL_TABLE removes the replication key. Streams the map says nothing
    about are left as they are; the same catalog comes back when no stream is changed.
    """
    cat = as_catalog(catalog)
    rules = [(cs, rule_for(field_map, cs)) for cs in cat.streams]
    if not any(rule is not None and rule.sets_replication for _, rule in rules):
        return cat
    raw = copy.deepcopy(cat.raw)
    entries = [e for e in raw["streams"] if isinstance(e, dict)]
    for (cs, rule), entry in zip(rules, entries, strict=True):
        if rule is None or not rule.sets_replication:
            continue
        method = rule.replication_method or INCREMENTAL
        rkey = None if method == FULL_TABLE else (rule.replication_key or cs.replication_key)
        items = entry.get("metadata")
        if not isinstance(items, list):
            items = entry["metadata"] = []
        root = next(
            (
                m
                for m in items
                if isinstance(m, dict)
                and not m.get("breadcrumb")
                and isinstance(m.get("metadata"), dict)
            ),
            None,
        )
        if root is None:
            root = {"breadcrumb": [], "metadata": {}}
            items.insert(0, root)
        md = root["metadata"]
        md["replication-method"] = entry["replication_method"] = method
        if rkey is None:
            md.pop("replication-key", None)
            entry.pop("replication_key", None)
        else:
            md["replication-key"] = entry["replication_key"] = rkey
    return Catalog(raw)


def _unsupported(cs: CatalogStream) -> set[tuple[str, ...]]:
    return {p for p, f in cs.fields.items() if cs.inclusion(f.breadcrumb) == "unsupported"}


def _covered(patterns: FieldPatterns, path: tuple[str, ...]) -> bool:
    """Whether some pattern names this field or an ancestor (not just a descendant)."""
    for pat in (*(patterns.include or ()), *patterns.exclude):
        if len(pat) <= len(path) and path_matches(pat, path[: len(pat)]):
            return True
    return False


def check(field_map: FieldMap, catalog: CatalogLike) -> list[Problem]:
    """Everything wrong with a field map against a catalog: errors first, then warnings.

    Errors: unknown stream or field names (with the closest match), unsupported streams or
    fields asked for. Warnings: wildcards matching nothing, exclusions that cannot apply,
    catalog fields and streams the map does not mention (new at the source).
    """
    cat = as_catalog(catalog)
    problems: list[Problem] = []
    stream_names = cat.names
    used: set[str] = set()
    for rule in field_map.rules:
        matched = [cs for cs in cat.streams if rule_matches(rule, cs)]
        if not matched:
            if rule.wildcard:
                problems.append(
                    Problem(
                        "warning",
                        f"{field_map.source}: stream pattern {rule.pattern!r} matches no stream",
                        hint=_listing("streams in the catalog", stream_names),
                    )
                )
            else:
                problems.append(
                    Problem(
                        "error",
                        f"{field_map.source}: stream {rule.pattern!r} is not in the tap's "
                        f"catalog.{_closest(rule.pattern, stream_names)}",
                        hint=_listing("streams in the catalog", stream_names),
                        stream=rule.pattern,
                    )
                )
            continue
        for cs in matched:
            if rule_for(field_map, cs) is not rule:
                continue  # overridden by an exact entry or a later pattern
            used.add(cs.tap_stream_id)
            if rule.selected and cs.unsupported and not rule.wildcard:
                problems.append(
                    Problem(
                        "error",
                        f"{field_map.source}: stream {cs.tap_stream_id!r} is unsupported by "
                        "the tap (inclusion: unsupported) and cannot be pulled",
                        hint=f"set {cs.tap_stream_id!r} to off or remove it",
                        stream=cs.tap_stream_id,
                    )
                )
                continue
            problems.extend(_check_fields(field_map, rule, cs))
            if rule.sets_replication:
                problems.extend(_check_replication(field_map, rule, cs))
    unlisted = [s for s in stream_names if s not in used]
    if unlisted and field_map.unlisted == UNLISTED_OFF:
        problems.append(
            Problem(
                "warning",
                f"{field_map.source}: "
                + _listing("streams in the catalog the field map does not list (off)", unlisted),
                hint="list them (on or off) to silence this",
            )
        )
    problems.sort(key=lambda p: p.level != "error")
    return problems


# ----------------------------------------------------------------------------- resolving


def resolve(field_map: FieldMap, catalog: CatalogLike) -> Selection:
    """The selection a field map makes on a catalog; ConfigError listing every error found."""
    cat = as_catalog(catalog)
    problems = check(field_map, cat)
    errors = [p for p in problems if p.level == "error"]
    if errors:
        first = errors[0]
        rest = "".join(f"\n  {p.message}" for p in errors[1:])
        raise ConfigError(first.message + rest, hint=first.hint)
    cat = with_replication(cat, field_map)  # a chosen replication key is always pulled
    streams: dict[str, StreamSelection] = {}
    for cs in cat.streams:
        rule = rule_for(field_map, cs)
        if rule is None:
            if field_map.unlisted == UNLISTED_CATALOG:
                sel = resolve_stream(cs)
                sel.reason = f"not in the field map, follows the {sel.reason}"
            else:
                sel = resolve_stream(
                    cs, stream_on=False, reason="not in the field map (unlisted streams are off)"
                )
        else:
            how = f"pattern {rule.pattern!r}" if rule.wildcard else "field map"
            sel = resolve_stream(
                cs,
                stream_on=rule.selected and not cs.unsupported,
                patterns=rule_patterns(rule),
                reason=f"{how}: {'on' if rule.selected else 'off'}",
            )
        streams[cs.tap_stream_id] = sel
    return Selection(
        streams,
        shape=field_map.shape,
        source=field_map.source,
        unlisted=field_map.unlisted,
        warnings=[str(p) for p in problems],
    )


def write_catalog_selected(
    path: str | Path,
    catalog: CatalogLike,
    selection: Selection,
    field_map: FieldMap | None = None,
) -> dict[str, Any]:
    """Write the tap's catalog with the selection applied (hotglue's ``catalog-selected.json``),
    and the field map's replication settings when it is given."""
    from glue_runtime.state import write_json_atomic

    if field_map is not None:
        catalog = with_replication(catalog, field_map)
    data = apply_selection(catalog, selection)
    write_json_atomic(Path(path), data)
    return data


@dataclass(frozen=True)
class RunSelection:
    """A field map resolved for a run: what the selector enforces and what the tap is given."""

    selection: Selection
    catalog: Catalog  # with the field map's replication settings: what the selector reads
    tap_catalog: dict[str, Any]  # carrying the selection: the catalog the tap gets


def resolve_for_run(path: str | Path, catalog: CatalogLike | None) -> RunSelection:
    """Read a field map and resolve it against the tap's catalog, for a run.

    Raises ConfigError (unknown names, unsupported fields) before any tap starts; the
    warnings (schema drift, unlisted streams) go to the run's log.
    """
    if catalog is None:
        raise ConfigError(
            f"field map {path} needs the tap's catalog",
            hint="pass --catalog, or run discovery first (`python -m glue_runtime discover`)",
        )
    field_map = load_field_map(path)
    selection = resolve(field_map, catalog)
    cat = with_replication(catalog, field_map)
    for warning in selection.warnings:
        log.warning("%s", warning)
    return RunSelection(selection, cat, apply_selection(cat, selection))


def selector_for_run(
    path: str | Path,
    catalog: CatalogLike | None,
    *,
    unknown_fields: str = "drop",
    stats: Any = None,
) -> tuple[Stage, dict[str, Any]]:
    """What ``run`` needs from a field map: the selector stage and the catalog for the tap.

    Raises ConfigError (unknown names, unsupported fields) before any tap starts.
    """
    from glue_runtime.stages.select import make_selector

    resolved = resolve_for_run(path, catalog)
    stage = make_selector(
        resolved.selection, unknown_fields=unknown_fields, stats=stats, catalog=resolved.catalog
    )
    return stage, resolved.tap_catalog
