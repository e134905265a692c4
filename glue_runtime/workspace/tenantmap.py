"""A flow's field map applied to one tenant's catalog.

Tenants' accounts differ: a custom field one tenant has is missing in another's catalog. For a
plain flow file a stream or field the catalog lacks is an error (a misspelling, most often);
in a workspace flow it is a warning for that tenant only, and the rest of the map applies.
Everything else the field map checker calls an error stays one.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from glue_runtime.catalog import as_catalog, is_wildcard, split_path
from glue_runtime.fieldmap import FieldMap, StreamRule, parse_field_map
from glue_runtime.selection import (
    RunSelection,
    apply_selection,
    resolve,
    rule_matches,
    with_replication,
)

log = logging.getLogger("glue_runtime.workspace.runs")


def parse_override(text: str, *, source: str) -> FieldMap:
    """A tenant's field map override (YAML text, as the store keeps it)."""
    import yaml

    from glue_runtime.errors import ConfigError

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None
    return parse_field_map(data, source=source)


def _trim_rule(
    rule: StreamRule, streams: list[Any], tenant: str, source: str
) -> tuple[StreamRule, list[str]]:
    """The rule without the exact field names none of its streams has, and a warning each."""

    def present(pattern: str) -> bool:
        return is_wildcard(pattern) or any(split_path(pattern) in cs.fields for cs in streams)

    named = [*(rule.fields or ()), *rule.exclude]
    missing = [p for p in named if not present(p)]
    if not missing:
        return rule, []
    warnings = [
        f"tenant '{tenant}': {source}: stream {rule.pattern!r} has no field {p!r} in this "
        "tenant's catalog; left out for this tenant"
        for p in missing
    ]
    trimmed = dataclasses.replace(
        rule,
        fields=None if rule.fields is None else tuple(p for p in rule.fields if present(p)),
        exclude=tuple(p for p in rule.exclude if present(p)),
    )
    return trimmed, warnings


def for_tenant(field_map: FieldMap, catalog: Any, tenant: str) -> tuple[FieldMap, list[str]]:
    """The field map without what this tenant's catalog lacks, and a warning for each part."""
    cat = as_catalog(catalog)
    rules: list[StreamRule] = []
    warnings: list[str] = []
    for rule in field_map.rules:
        matched = [cs for cs in cat.streams if rule_matches(rule, cs)]
        if not matched and not rule.wildcard:
            warnings.append(
                f"tenant '{tenant}': {field_map.source}: stream {rule.pattern!r} is not in this "
                "tenant's catalog; left out for this tenant"
            )
            continue
        rule, more = _trim_rule(rule, matched, tenant, field_map.source)
        warnings.extend(more)
        rules.append(rule)
    return dataclasses.replace(field_map, rules=rules), warnings


def resolve_for_tenant(
    field_map: FieldMap, catalog: dict[str, Any], tenant: str
) -> tuple[RunSelection, list[str]]:
    """What ``selection.resolve_for_run`` gives a run, with missing names as warnings.

    Returns the selection and the warnings for this tenant (also logged).
    """
    trimmed, warnings = for_tenant(field_map, catalog, tenant)
    selection = resolve(trimmed, catalog)
    cat = with_replication(catalog, trimmed)
    for warning in [*warnings, *selection.warnings]:
        log.warning("%s", warning)
    return RunSelection(selection, cat, apply_selection(cat, selection)), warnings
